/* init_failure: a complete HTTP module whose sluice_on_program_init
 * returns false. */
#define PROGRAM_INIT_RESULT false
#include "required_hooks.c"
