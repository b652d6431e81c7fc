/* misspelled_hook: a complete module whose optional response-body hook is
 * misspelled; the host warns at load (and `module inspect` reports it)
 * instead of silently never calling it. */
#define EXTRA_HOOK sluice_on_http_filter_respone_body
#include "required_hooks.c"
