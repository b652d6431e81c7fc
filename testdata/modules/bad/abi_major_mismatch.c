/* abi_major_mismatch: a complete HTTP module claiming ABI 3.1, which a 2.x
 * host must refuse before calling anything else. */
#define MODULE_ABI_VERSION ((3u << 16) | 1u)
#include "required_hooks.c"
