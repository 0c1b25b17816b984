"""Pure domain rules and types. Imports no framework, database, queue or ML library."""
