/* wintool.exe: helpers that msi tests build with x86_64-w64-mingw32-gcc and
 * run under Wine, to check this package against the Windows API.
 *
 *   wintool split IN OUT  for every line of IN (UTF-8), writes the arguments
 *                         CommandLineToArgvW returns, UTF-8, each followed by
 *                         \x01, each line's list ended by \x02.
 *   wintool run IN OUT    starts the UTF-8 command line in IN verbatim with
 *                         CreateProcessW (as a service running msiexec does),
 *                         waits, and writes the decimal exit code to OUT. */
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char line[1 << 16];
static WCHAR wline[1 << 16];
static char u8[1 << 18];

static int split(const char *inpath, const char *outpath)
{
    FILE *in = fopen(inpath, "rb"), *out = fopen(outpath, "wb");
    if (!in || !out) return 3;
    while (fgets(line, sizeof line, in)) {
        size_t n = strlen(line);
        int nargs = 0, i;
        LPWSTR *args;
        if (n && line[n - 1] == '\n') line[--n] = 0;
        if (!MultiByteToWideChar(CP_UTF8, 0, line, -1, wline, sizeof wline / sizeof wline[0])) return 4;
        args = CommandLineToArgvW(wline, &nargs);
        if (!args) return 5;
        for (i = 0; i < nargs; i++) {
            int k = WideCharToMultiByte(CP_UTF8, 0, args[i], -1, u8, sizeof u8, NULL, NULL);
            if (k > 0) fwrite(u8, 1, k - 1, out);
            fputc(1, out);
        }
        fputc(2, out);
        LocalFree(args);
    }
    fclose(out);
    return 0;
}

static int run(const char *inpath, const char *outpath)
{
    FILE *in = fopen(inpath, "rb"), *out;
    size_t n;
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    DWORD code = 0;
    if (!in) return 3;
    n = fread(line, 1, sizeof line - 1, in);
    line[n] = 0;
    if (!MultiByteToWideChar(CP_UTF8, 0, line, -1, wline, sizeof wline / sizeof wline[0])) return 4;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessW(NULL, wline, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return 6;
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    out = fopen(outpath, "wb");
    if (!out) return 3;
    fprintf(out, "%lu", (unsigned long)code);
    fclose(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "split")) return split(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "run")) return run(argv[2], argv[3]);
    return 2;
}
