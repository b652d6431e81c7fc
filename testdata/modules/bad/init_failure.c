/* init_failure: sluice_on_program_init returns false. */
#include "sluice_abi.h"

uint32_t sluice_module_abi_version(void) { return SLUICE_ABI_VERSION; }
bool sluice_on_program_init(const sluice_host_api* api) {
    (void)api;
    return false;
}
