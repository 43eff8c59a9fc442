"""A FastMCP server of the Python SDK 1.x, default settings, no auth: `python mcp1_server.py
PORT` serves Streamable HTTP at http://127.0.0.1:PORT/mcp with one tool, `add`. Run by
test_connect.py with the interpreter of the mcp 1.x virtualenv."""

import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("sdk-1-server", host="127.0.0.1", port=int(sys.argv[1]))


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


if __name__ == "__main__":
    server.run(transport="streamable-http")
