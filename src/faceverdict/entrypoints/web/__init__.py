"""The reviewer web UI (server-rendered pages, served under /review by the API)."""
