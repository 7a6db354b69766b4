"""The `cooldown` command line: one click group (`main`) and a module per command family.

The edge of the program: it turns `CooldownError`s into friendly one-line messages. It may import
anything in `simulator`; nothing in `simulator` may import it.
"""
