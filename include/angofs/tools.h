/*
 * tools.h - the vocabulary of Ango's category schema, in one table: the
 * tool names (a tool's name is also the answer key holding an object's
 * geometry: {"bounding-box": {...}}) and what each is to angofs. The write
 * side checks answers against it (src/write/schema.c), the dataset
 * conversions pick the marks they convert (src/datasets/ds_schema.c,
 * ds_geom.c). The local hub keeps its own list on purpose: it is the
 * independent validator the write side is tested against (contrib/hub).
 */
#ifndef ANGOFS_TOOLS_H
#define ANGOFS_TOOLS_H

/* What a tool is (flags of struct ao_tool). */
#define AO_TOOL_GEOMETRY 1 /* an object tool: its key holds the object's geometry */
#define AO_TOOL_REGION 2   /* an area a dataset view converts (YOLO, COCO) */
#define AO_TOOL_ONE 4	   /* a classification with one option as its answer */
#define AO_TOOL_MANY 8	   /* a classification with a list of options as its answer */
#define AO_TOOL_TEXT 16	   /* a classification answered with free text */

struct ao_tool {
	const char *name;
	unsigned flags;
};

/* Every tool, ending with {NULL, 0}. The geometry tools come first, in the
 * order a mark's geometry key is looked for (the first found is its
 * geometry). */
extern const struct ao_tool ao_tools[];

/* 1 if name is a tool with any of flags, else 0 (name may be NULL). */
int ao_tool_is(const char *name, unsigned flags);

#endif
