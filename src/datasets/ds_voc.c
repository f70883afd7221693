/*
 * ds_voc.c - the Pascal VOC view: one Annotations/<stem>.xml per image
 * (docs/DATASETS.md "Pascal VOC").
 *
 * Design: the same geometry walker as YOLO and COCO (ds_geom.c), so the
 * three formats keep, clip and skip the same marks; each kept mark is one
 * <object> with the bounding box of its clipped shape. VOC boxes are pixel
 * indices, 1-based and inclusive (the VOC devkit's convention, which
 * torchvision's and most readers' "- 1" expects): a clipped box
 * [x0, x1) x [y0, y1) in continuous coordinates becomes xmin = round(x0) + 1,
 * xmax = round(x1), likewise for y, with xmax >= xmin. <truncated> is 1
 * when the box touches the image's border (the object may go on beyond
 * it), <difficult> 0, <pose> Unspecified; names and the file name are
 * XML-escaped (and characters XML 1.0 forbids dropped), so a hostile title
 * cannot break the document.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "ds_int.h"

/* s as XML character data. */
static void xml_text(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			if (*p >= 0x20 || *p == '\t' || *p == '\n')
				fputc(*p, f);
		}
	}
}

struct voc_ctx {
	FILE *out;
	const struct ao_ds_schema *s;
	int w, h;
	struct ao_ds_report *r;
};

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static int voc_object(void *ud, const struct ds_shape *sh)
{
	struct voc_ctx *c = ud;
	int xmin = clamp((int)lround(sh->x0) + 1, 1, c->w);
	int ymin = clamp((int)lround(sh->y0) + 1, 1, c->h);
	int xmax = clamp((int)lround(sh->x1), xmin, c->w);
	int ymax = clamp((int)lround(sh->y1), ymin, c->h);
	int trunc = sh->x0 <= 0 || sh->y0 <= 0 || sh->x1 >= c->w || sh->y1 >= c->h;

	fputs("  <object>\n    <name>", c->out);
	xml_text(c->out, c->s->cls[sh->cls].title);
	fprintf(c->out,
		"</name>\n    <pose>Unspecified</pose>\n    <truncated>%d</truncated>\n"
		"    <difficult>0</difficult>\n    <bndbox>\n      <xmin>%d</xmin>\n"
		"      <ymin>%d</ymin>\n      <xmax>%d</xmax>\n      <ymax>%d</ymax>\n"
		"    </bndbox>\n  </object>\n",
		trunc, xmin, ymin, xmax, ymax);
	c->r->annotations++;
	return ferror(c->out) ? -EIO : 0;
}

int ao_ds_voc_xml(const struct ao_ds_schema *s, const struct ao_ds_image *img, const json_t *record,
		  FILE *out, struct ao_ds_report *r)
{
	struct voc_ctx c = {out, s, img->width, img->height, r};

	if (img->width <= 0 || img->height <= 0)
		return -EINVAL;
	r->images++;
	fputs("<annotation>\n  <folder>JPEGImages</folder>\n  <filename>", out);
	xml_text(out, img->name);
	fprintf(out,
		"</filename>\n  <source>\n    <database>Ango Hub (angofs)</database>\n"
		"  </source>\n  <size>\n    <width>%d</width>\n    <height>%d</height>\n"
		"    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n",
		img->width, img->height);
	int rc = ao_ds_each_shape(s, record, img->width, img->height, voc_object, &c, r);
	fputs("</annotation>\n", out);
	return rc < 0 ? rc : ferror(out) ? -EIO : 0;
}
