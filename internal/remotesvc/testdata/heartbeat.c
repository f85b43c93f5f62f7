/* heartbeat.exe FILE [CHILDFILE]: writes an increasing counter to FILE every
 * 50 ms, forever. With CHILDFILE it first starts a copy of itself writing to
 * CHILDFILE, so a test can tell whether a whole process tree was killed.
 * Built at test time: x86_64-w64-mingw32-gcc -O2 -s -o heartbeat.exe heartbeat.c
 */
#include <windows.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char buf[64];
    unsigned long n;

    if (argc < 2)
        return 2;
    if (argc > 2) {
        char self[MAX_PATH], cmd[3 * MAX_PATH];
        STARTUPINFOA si = { sizeof(si) };
        PROCESS_INFORMATION pi;
        GetModuleFileNameA(NULL, self, sizeof(self));
        snprintf(cmd, sizeof(cmd), "\"%s\" \"%s\"", self, argv[2]);
        if (!CreateProcessA(self, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
            return 3;
        CloseHandle(pi.hThread);
        CloseHandle(pi.hProcess);
    }
    for (n = 1;; n++) {
        DWORD written;
        HANDLE f = CreateFileA(argv[1], GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                               NULL, CREATE_ALWAYS, 0, NULL);
        if (f != INVALID_HANDLE_VALUE) {
            int len = snprintf(buf, sizeof(buf), "%lu", n);
            WriteFile(f, buf, (DWORD)len, &written, NULL);
            CloseHandle(f);
        }
        Sleep(50);
    }
}
