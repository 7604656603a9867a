//! Graph passes, run in the order [`PIPELINE`] lists, with the IR verified after each.
