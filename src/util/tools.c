/*
 * tools.c - the table of Ango's tools (include/angofs/tools.h). The names
 * are the SDK's and the hub's (../shared/hub-api.md, categorySchema).
 */
#include <string.h>

#include "angofs/tools.h"

#define GEOM AO_TOOL_GEOMETRY
#define REGION (AO_TOOL_GEOMETRY | AO_TOOL_REGION)

const struct ao_tool ao_tools[] = {
    {"bounding-box", REGION},
    {"rotated-bounding-box", REGION},
    {"polygon", REGION},
    {"polyline", GEOM},
    {"point", GEOM},
    {"segmentation", REGION},
    {"ner", GEOM},
    {"pdf", GEOM},
    {"spline", GEOM},
    {"angle", GEOM},
    {"radio", AO_TOOL_ONE},
    {"single-dropdown", AO_TOOL_ONE},
    {"checkbox", AO_TOOL_MANY},
    {"multi-dropdown", AO_TOOL_MANY},
    {"tree-dropdown", AO_TOOL_MANY},
    {"text", AO_TOOL_TEXT},
    {NULL, 0},
};

int ao_tool_is(const char *name, unsigned flags)
{
	if (!name)
		return 0;
	for (const struct ao_tool *t = ao_tools; t->name; t++)
		if (!strcmp(t->name, name))
			return (t->flags & flags) != 0;
	return 0;
}
