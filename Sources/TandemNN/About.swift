// TandemNN
//
// Owns: Layers with hand-written forward and backward passes (group
// normalisation included), losses, SGD, initialisation, the reference models
// and their variants.
//
// Must not import: files, processes or ranks: only TandemTensor.
