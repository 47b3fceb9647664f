/* Runtime version information. */
#include "internal.h"

const char *mtlsauthz_version(void)
{
    return MTLSAUTHZ_VERSION_STRING;
}

unsigned long mtlsauthz_version_number(void)
{
    return MTLSAUTHZ_VERSION_NUMBER;
}
