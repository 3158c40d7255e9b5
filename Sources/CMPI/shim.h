#ifndef CMPI_SHIM_H
#define CMPI_SHIM_H
#include <mpi.h>

// Open MPI spells its predefined handles as macros that expand to casts of
// global symbols, which Swift cannot import. These accessors give them names.
static inline MPI_Comm CMPI_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype CMPI_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype CMPI_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype CMPI_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype CMPI_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype CMPI_char(void) { return MPI_CHAR; }
static inline MPI_Op CMPI_sum(void) { return MPI_SUM; }
static inline MPI_Op CMPI_max(void) { return MPI_MAX; }
static inline MPI_Op CMPI_min(void) { return MPI_MIN; }
static inline void *CMPI_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler CMPI_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int CMPI_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int CMPI_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline MPI_Status *CMPI_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *CMPI_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int CMPI_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Request CMPI_request_null(void) { return MPI_REQUEST_NULL; }
#endif
