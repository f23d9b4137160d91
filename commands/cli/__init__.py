"""Declarative ``/zdm`` command grammar: one declaration gives the parser, the usage line and the usage sentences."""
