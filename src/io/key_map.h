// The only place foreign checkpoint names are translated (CompVis/LDM single-file, kohya LoRA).
#pragma once
