/* abi_major_mismatch: a complete HTTP module claiming ABI 2.3, which a 1.x
 * host must refuse before calling anything else. */
#define MODULE_ABI_VERSION ((2u << 16) | 3u)
#include "required_hooks.c"
