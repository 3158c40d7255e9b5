#ifndef CHDF5_SHIM_H
#define CHDF5_SHIM_H
#include <hdf5.h>

// HDF5's predefined types and property lists are macros that call
// H5open() and read a global; Swift cannot import them. H5P_DEFAULT,
// H5S_ALL and H5E_DEFAULT import as Int32 because the (hid_t) cast is
// dropped, so they get accessors as well.
static inline hid_t CHDF5_default(void) { return H5P_DEFAULT; }
static inline hid_t CHDF5_all(void) { return H5S_ALL; }
static inline hid_t CHDF5_error_stack_default(void) { return H5E_DEFAULT; }
static inline unsigned CHDF5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned CHDF5_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned CHDF5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned CHDF5_acc_excl(void) { return H5F_ACC_EXCL; }
static inline hid_t CHDF5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t CHDF5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t CHDF5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t CHDF5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t CHDF5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t CHDF5_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t CHDF5_c_s1(void) { return H5T_C_S1; }
static inline hid_t CHDF5_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t CHDF5_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t CHDF5_dataset_access(void) { return H5P_DATASET_ACCESS; }
static inline hid_t CHDF5_link_create(void) { return H5P_LINK_CREATE; }
static inline size_t CHDF5_variable(void) { return H5T_VARIABLE; }
static inline hsize_t CHDF5_unlimited(void) { return H5S_UNLIMITED; }
// Little-endian file types: datasets are written with a fixed byte order so
// the file, and its content hash, do not depend on the writing machine.
static inline hid_t CHDF5_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t CHDF5_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t CHDF5_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t CHDF5_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t CHDF5_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t CHDF5_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t CHDF5_dataset_xfer(void) { return H5P_DATASET_XFER; }
#endif
