/* newer_minor_plain: built for ABI 2.9 but using only hooks this host
 * knows: it loads, and the host logs that it is newer. */
#define MODULE_ABI_VERSION ((2u << 16) | 9u)
#include "required_hooks.c"
