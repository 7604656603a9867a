//! Reading and writing `.npy` arrays (float32 and int8, C order).
