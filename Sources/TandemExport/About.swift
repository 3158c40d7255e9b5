// TandemExport
//
// Owns: models leaving Tandem: `ModelExport` (a run's or a registered
// version's model with its normalisation, classes and threshold), the ONNX
// file it becomes (the subset of onnx.proto written by a small protobuf
// encoder of our own) and the safetensors file of its weights.
//
// Must not import: the trainer or MPI: an export reads finished files only.
