"""Stateless EPC frontends (MME, SGW, PGW) and what they share: the session store, the
Algorithm 1 engine and the daemon skeleton."""
