// LDM single-file ↔ diffusers key conversion: see key_map.h
