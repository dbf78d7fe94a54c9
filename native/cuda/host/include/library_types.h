// The host shim's stand-in for the CUDA toolkit's <library_types.h>: the data-type and
// library-property enums cuBLAS's API takes (values as NVIDIA's header).
#pragma once

enum cudaDataType_t : int { CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16F = 2 };
enum libraryPropertyType : int { MAJOR_VERSION = 0, MINOR_VERSION = 1, PATCH_LEVEL = 2 };
