/* newer_minor: built for ABI 2.9 (a future minor) with a hook this host
 * does not know; the host refuses it rather than never call the hook. */
#define MODULE_ABI_VERSION ((2u << 16) | 9u)
#define EXTRA_HOOK sluice_on_http_filter_from_the_future
#include "required_hooks.c"
