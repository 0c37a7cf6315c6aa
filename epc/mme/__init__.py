"""The MME (Mobility Management Entity) frontend: stateless, several instances behind the ECHO
agents, every UE's context in the store (../shared/DESIGN.md sections 1 and 3).

So far only the daemon shell exists (`__main__`); the S1AP and NAS procedures arrive with later
issues.
"""
