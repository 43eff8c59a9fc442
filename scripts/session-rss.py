#!/usr/bin/env python3
"""RSS per idle 2025-11-25 session: starts `outpost serve`, opens N sessions (initialize +
notifications/initialized), reads the process's RSS before, with the sessions idle, and after
DELETE-ing them all.

    scripts/session-rss.py BINARY [--sessions 2000] [-- EXTRA SERVE FLAGS...]

Without extra flags the server runs `--no-auth` (parked sessions in a memory store); pass e.g.
`--store sqlite://…` to park them in SQLite, or `--in-memory-sessions` to measure rmcp's
session manager.
"""
import argparse, http.client, json, os, socket, subprocess, sys, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("extra", nargs="*")
    args, unknown = parser.parse_known_args()
    args.extra += [flag for flag in unknown if flag != "--"]
    port = free_port()
    server = subprocess.Popen([args.binary, "serve", "--no-auth", "--bind", f"127.0.0.1:{port}", *args.extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(100):
            try:
                conn.request("GET", "/health"); conn.getresponse().read(); break
            except OSError:
                time.sleep(0.1); conn = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        init = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "rss", "version": "1"}}})
        initialized = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        # Warm up: one session opened and deleted, so lazily built state is counted in the base.
        def open_session():
            conn.request("POST", "/mcp", init, headers); r = conn.getresponse(); r.read()
            sid = r.getheader("mcp-session-id")
            h = dict(headers, **{"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
            conn.request("POST", "/mcp", initialized, h); conn.getresponse().read()
            return sid
        def delete(sid):
            conn.request("DELETE", "/mcp", headers={"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
            conn.getresponse().read()
        delete(open_session())
        time.sleep(1)
        before = rss_kib(server.pid)
        ids = [open_session() for _ in range(args.sessions)]
        time.sleep(2)
        idle = rss_kib(server.pid)
        for sid in ids:
            delete(sid)
        time.sleep(3)
        after = rss_kib(server.pid)
        print(json.dumps({"sessions": args.sessions, "rss_before_kib": before, "rss_idle_kib": idle,
                          "rss_after_delete_kib": after,
                          "per_session_kib": round((idle - before) / args.sessions, 2)}))
    finally:
        server.terminate(); server.wait()

if __name__ == "__main__":
    main()
