//! The subset of `onnx.proto` (ONNX IR version 10, `package onnx`) that qforge reads and
//! its tests write, declared by hand as `prost` messages so that no build step and no
//! `protoc` are needed.
//!
//! Field numbers and labels follow `onnx/onnx.proto`. Fields qforge never needs are left
//! out; `prost` skips unknown fields when decoding, so models that use them still load.
//! The recursive fields (`AttributeProto.g`/`graphs`, `TypeProto.sequence_type`, ...)
//! are among those left out: an attribute's `type` discriminator still says when a node
//! carries a subgraph, and a `ValueInfoProto` whose type is not a tensor decodes with an
//! empty [`TypeProto::value`].
//!
//! `proto2` scalar fields are declared without presence (`i64`, not `Option<i64>`): ONNX
//! gives every such field a zero default that means "absent", so nothing is lost, and
//! encoding omits fields that hold their default. Repeated scalars that `onnx.proto`
//! does not mark `[packed = true]` are encoded unpacked, as the reference implementation
//! writes them; decoding accepts both forms.

/// A whole model: IR version, operator sets, and the graph.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// IR version the model targets (7 for opset 12..14, 8 for opset 15..18, ...).
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Operator sets the graph's nodes bind against; the default domain is `""`.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Tool that wrote the model.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// Version of that tool.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// Reverse-DNS domain of the model.
    #[prost(string, tag = "4")]
    pub domain: String,
    /// Version of the model itself.
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    /// Free-form documentation.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The computation graph.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Named metadata values.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// A key/value pair (ONNX's portable stand-in for a map entry).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// An operator set a model imports: `(domain, version)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// Domain; `""` (or `"ai.onnx"`) is the default ONNX operator set.
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Opset version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// A graph: nodes in topological order, constant tensors, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// Nodes, sorted topologically.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors (weights); each may also be listed among the inputs.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Constant tensors stored sparsely (qforge rejects them).
    #[prost(message, repeated, tag = "15")]
    pub sparse_initializer: Vec<SparseTensorProto>,
    /// Free-form documentation.
    #[prost(string, tag = "10")]
    pub doc_string: String,
    /// Graph inputs.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Types and shapes of intermediate values (optional).
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// Input value names; `""` marks an omitted optional input.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name (optional).
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator type (`Conv`, `Relu`, ...).
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Operator domain; `""` is the default ONNX domain.
    #[prost(string, tag = "7")]
    pub domain: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// Free-form documentation.
    #[prost(string, tag = "6")]
    pub doc_string: String,
}

/// A named attribute; `type` says which one of the value fields is in use.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Set only inside function bodies (a reference to the caller's attribute).
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    /// Free-form documentation.
    #[prost(string, tag = "13")]
    pub doc_string: String,
    /// Which value field is in use ([`attribute_proto::AttributeType`]).
    #[prost(enumeration = "attribute_proto::AttributeType", tag = "20")]
    pub r#type: i32,
    /// `FLOAT` value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// `INT` value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// `STRING` value (UTF-8 bytes).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// `TENSOR` value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// `FLOATS` value.
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    /// `INTS` value.
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    /// `STRINGS` value.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    /// `TENSORS` value.
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
}

/// Types nested in [`AttributeProto`].
pub mod attribute_proto {
    /// The attribute's value kind.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum AttributeType {
        /// Not set (IR version 1 models).
        Undefined = 0,
        /// One float.
        Float = 1,
        /// One 64-bit integer.
        Int = 2,
        /// One string.
        String = 3,
        /// One tensor.
        Tensor = 4,
        /// A subgraph (`If`, `Loop`, `Scan` bodies).
        Graph = 5,
        /// A sparse tensor.
        SparseTensor = 11,
        /// A type (function attributes).
        TypeProto = 13,
        /// A list of floats.
        Floats = 6,
        /// A list of integers.
        Ints = 7,
        /// A list of strings.
        Strings = 8,
        /// A list of tensors.
        Tensors = 9,
        /// A list of subgraphs.
        Graphs = 10,
        /// A list of sparse tensors.
        SparseTensors = 12,
        /// A list of types.
        TypeProtos = 14,
    }
}

/// A serialized tensor: dims, element type, and data in one of several fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// Dimensions, outermost first (empty for a scalar).
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// Element type ([`tensor_proto::DataType`]).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Set when the message holds only a chunk of the tensor (qforge rejects it).
    #[prost(message, optional, tag = "3")]
    pub segment: Option<tensor_proto::Segment>,
    /// Data of `FLOAT` tensors.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Data of `INT32` (and narrower integer, bool, float16) tensors.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// Data of `STRING` tensors.
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    /// Data of `INT64` tensors.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// Tensor name (the initializer's value name).
    #[prost(string, tag = "8")]
    pub name: String,
    /// Free-form documentation.
    #[prost(string, tag = "12")]
    pub doc_string: String,
    /// Data as fixed-width little-endian bytes (any non-string type).
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// Where external data lives (`location`, `offset`, `length`, `checksum`).
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// [`tensor_proto::DataLocation`]: inside this message, or in an external file.
    #[prost(enumeration = "tensor_proto::DataLocation", tag = "14")]
    pub data_location: i32,
    /// Data of `DOUBLE` tensors.
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// Data of `UINT32` and `UINT64` tensors.
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
}

/// Types nested in [`TensorProto`].
pub mod tensor_proto {
    /// Element types.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum DataType {
        /// Not set.
        Undefined = 0,
        /// IEEE 754 binary32.
        Float = 1,
        /// `u8`.
        Uint8 = 2,
        /// `i8`.
        Int8 = 3,
        /// `u16`.
        Uint16 = 4,
        /// `i16`.
        Int16 = 5,
        /// `i32`.
        Int32 = 6,
        /// `i64`.
        Int64 = 7,
        /// UTF-8 strings.
        String = 8,
        /// One byte per element.
        Bool = 9,
        /// IEEE 754 binary16.
        Float16 = 10,
        /// IEEE 754 binary64.
        Double = 11,
        /// `u32`.
        Uint32 = 12,
        /// `u64`.
        Uint64 = 13,
        /// Two binary32 per element.
        Complex64 = 14,
        /// Two binary64 per element.
        Complex128 = 15,
        /// Truncated binary32 (8-bit exponent, 7-bit mantissa).
        Bfloat16 = 16,
        /// 8-bit float, 4-bit exponent, finite (no infinities).
        Float8e4m3fn = 17,
        /// 8-bit float, 4-bit exponent, finite, no negative zero.
        Float8e4m3fnuz = 18,
        /// 8-bit float, 5-bit exponent.
        Float8e5m2 = 19,
        /// 8-bit float, 5-bit exponent, finite, no negative zero.
        Float8e5m2fnuz = 20,
        /// 4-bit unsigned integer.
        Uint4 = 21,
        /// 4-bit signed integer.
        Int4 = 22,
        /// 4-bit float.
        Float4e2m1 = 23,
        /// 8-bit exponent-only float (block scales).
        Float8e8m0 = 24,
    }

    /// Where a tensor's data is stored.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum DataLocation {
        /// In this message (`raw_data` or a typed field).
        Default = 0,
        /// In a separate file named by `external_data`.
        External = 1,
    }

    /// The chunk `[begin, end)` a segmented tensor message holds.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Segment {
        /// First element.
        #[prost(int64, tag = "1")]
        pub begin: i64,
        /// One past the last element.
        #[prost(int64, tag = "2")]
        pub end: i64,
    }
}

/// A sparse tensor (only decoded so that qforge can reject it by name).
#[derive(Clone, PartialEq, prost::Message)]
pub struct SparseTensorProto {
    /// The non-default values, shape `[NNZ]`; its name is the tensor's name.
    #[prost(message, optional, tag = "1")]
    pub values: Option<TensorProto>,
    /// Their indices.
    #[prost(message, optional, tag = "2")]
    pub indices: Option<TensorProto>,
    /// Dense shape.
    #[prost(int64, repeated, packed = "false", tag = "3")]
    pub dims: Vec<i64>,
}

/// A value's name and type (graph inputs, outputs and intermediate values).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// Value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Type and shape.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// Free-form documentation.
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// A value's type; qforge reads tensor types only.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// The type; `None` also when it is one qforge does not decode (sequence, map, ...).
    #[prost(oneof = "type_proto::Value", tags = "1")]
    pub value: Option<type_proto::Value>,
    /// Standard denotation (`IMAGE`, `TENSOR`, ...).
    #[prost(string, tag = "6")]
    pub denotation: String,
}

/// Types nested in [`TypeProto`].
pub mod type_proto {
    /// A tensor type: element type and (optionally) shape.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        /// Element type ([`super::tensor_proto::DataType`]).
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        /// Shape; absent when even the rank is unknown.
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    /// The kinds of type qforge decodes.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A dense tensor.
        #[prost(message, tag = "1")]
        TensorType(Tensor),
    }
}

/// A tensor shape whose dimensions may be symbolic.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// Dimensions, outermost first.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

/// Types nested in [`TensorShapeProto`].
pub mod tensor_shape_proto {
    /// One dimension: a number, a symbol, or (neither set) unknown.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        /// The dimension's value or symbol.
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
        /// Standard denotation (`DATA_BATCH`, `DATA_CHANNEL`, ...).
        #[prost(string, tag = "3")]
        pub denotation: String,
    }

    /// Types nested in [`Dimension`].
    pub mod dimension {
        /// A fixed size or a symbol.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// A fixed size.
            #[prost(int64, tag = "1")]
            DimValue(i64),
            /// A symbolic size (`"batch"`, `"N"`, ...).
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}
