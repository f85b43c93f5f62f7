/*
 * pipebridge: relays DCE/RPC between this program's standard input/output
 * and a local named pipe of the Wine prefix (argv[1], such as
 * \\.\pipe\atsvc), so a test on Linux can speak to Wine's RPC servers
 * (services.exe's svcctl, schedsvc's atsvc), which Wine serves only on its
 * own named pipes and not over SMB.
 *
 * Standard input carries whole PDUs back to back (the header's
 * frag_length, bytes 8-9 little-endian, delimits each); each is written to
 * the pipe as one message. After the last fragment of a request, bind or
 * alter_context, the answer's PDUs are read from the pipe and copied to
 * standard output up to the one that carries PFC_LAST_FRAG. One thread does
 * both, in turn, as a client's RPC calls do: a synchronous pipe handle
 * serialises its reads and writes anyway.
 *
 * Wine 8's RPC server answers every call of an association with the call_id
 * of its bind (a request with call_id 2 got a response with call_id 1, which
 * a client such as go-msrpc rightly refuses); Windows echoes the request's.
 * The bridge gives each answer PDU the call_id of the PDU it answers, and
 * changes nothing else.
 *
 * The program writes "+" once the pipe is open, and ends when standard input
 * ends or the pipe breaks.
 */
#include <windows.h>
#include <stdio.h>

#define PFC_LAST_FRAG 0x02
#define MAX_FRAG 65536

static BOOL read_full(HANDLE h, BYTE *buf, DWORD n)
{
    DWORD got;
    while (n > 0) {
        if (!ReadFile(h, buf, n, &got, NULL) || got == 0)
            return FALSE;
        buf += got;
        n -= got;
    }
    return TRUE;
}

static BOOL write_full(HANDLE h, const BYTE *buf, DWORD n)
{
    DWORD put;
    while (n > 0) {
        if (!WriteFile(h, buf, n, &put, NULL) || put == 0)
            return FALSE;
        buf += put;
        n -= put;
    }
    return TRUE;
}

static DWORD frag_length(const BYTE *pdu) { return pdu[8] | (pdu[9] << 8); }

/* relay_answer copies the server's PDUs to out until one carries
 * PFC_LAST_FRAG. Messages may hold several PDUs or part of one. */
static BOOL relay_answer(HANDLE pipe, HANDLE out, const BYTE *call_id)
{
    static BYTE buf[2 * MAX_FRAG];
    DWORD have = 0, got;
    for (;;) {
        while (have >= 16 && have >= frag_length(buf)) {
            DWORD len = frag_length(buf);
            BYTE flags = buf[3];
            if (len < 16)
                return FALSE;
            memcpy(buf + 12, call_id, 4);
            if (!write_full(out, buf, len))
                return FALSE;
            memmove(buf, buf + len, have - len);
            have -= len;
            if (flags & PFC_LAST_FRAG)
                return TRUE;
        }
        if (have == sizeof(buf))
            return FALSE;
        if (!ReadFile(pipe, buf + have, sizeof(buf) - have, &got, NULL) && GetLastError() != ERROR_MORE_DATA)
            return FALSE;
        if (got == 0)
            return FALSE;
        have += got;
    }
}

int main(int argc, char **argv)
{
    static BYTE pdu[MAX_FRAG];
    HANDLE pipe, in, out;
    DWORD mode = PIPE_READMODE_MESSAGE;
    int tries;

    if (argc != 2) {
        fprintf(stderr, "usage: pipebridge \\\\.\\pipe\\NAME\n");
        return 2;
    }
    in = GetStdHandle(STD_INPUT_HANDLE);
    out = GetStdHandle(STD_OUTPUT_HANDLE);
    pipe = INVALID_HANDLE_VALUE;
    for (tries = 0; tries < 30; tries++) {
        pipe = CreateFileA(argv[1], GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (pipe != INVALID_HANDLE_VALUE)
            break;
        if (GetLastError() == ERROR_PIPE_BUSY)
            WaitNamedPipeA(argv[1], 1000);
        else
            Sleep(100);
    }
    if (pipe == INVALID_HANDLE_VALUE) {
        fprintf(stderr, "pipebridge: cannot open %s: error %lu\n", argv[1], GetLastError());
        return 1;
    }
    SetNamedPipeHandleState(pipe, &mode, NULL, NULL);
    if (!write_full(out, (const BYTE *)"+", 1))
        return 1;
    for (;;) {
        DWORD len;
        BYTE type, flags;
        if (!read_full(in, pdu, 16))
            break;
        len = frag_length(pdu);
        if (len < 16 || !read_full(in, pdu + 16, len - 16))
            break;
        if (!write_full(pipe, pdu, len))
            break;
        type = pdu[2];
        flags = pdu[3];
        /* request (0), bind (11) and alter_context (14) are answered once
         * their last fragment is sent; auth3 (16) and orphaned/cancel are not. */
        if ((type == 0 || type == 11 || type == 14) && (flags & PFC_LAST_FRAG))
            if (!relay_answer(pipe, out, pdu + 12))
                break;
    }
    CloseHandle(pipe);
    return 0;
}
