/*
 * bcryptprimitives.dll stand-in for Wine 8.
 *
 * Go >= 1.22 calls bcryptprimitives.dll!ProcessPrng at start-up to seed its
 * random number generator. Wine 8 ships no such DLL, so every Go program dies
 * before main. This DLL exports ProcessPrng and fills the buffer from
 * advapi32's RtlGenRandom (SystemFunction036), which Wine does provide.
 * It is only ever copied into the test bed's Wine prefix, never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
