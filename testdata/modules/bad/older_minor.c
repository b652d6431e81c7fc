/* older_minor: built for ABI 2.0 (before network filters and callouts)
 * with only the hooks 2.0 had: a newer 2.x host loads it and runs it
 * without a warning. */
#define MODULE_ABI_VERSION ((2u << 16) | 0u)
#include "required_hooks.c"
