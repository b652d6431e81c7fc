/* abi_v1: a complete HTTP module reporting ABI 1.0, as every module built
 * before ABI 2 does; a 2.x host must refuse it before calling anything
 * else. */
#define MODULE_ABI_VERSION ((1u << 16) | 0u)
#include "required_hooks.c"
