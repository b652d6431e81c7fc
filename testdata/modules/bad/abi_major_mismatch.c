/* abi_major_mismatch: claims ABI 2.3, which a 1.x host must refuse. */
#include "sluice_abi.h"

uint32_t sluice_module_abi_version(void) { return (2u << 16) | 3u; }
bool sluice_on_program_init(const sluice_host_api* api) { return api != NULL; }
