/*
 * seed_data.c - the fixed content of the demo seed: ontologies
 * (categorySchemas) as JSON text, stage graphs, the demo project table, and
 * builders for full Project documents (hub-api.md §5.2).
 *
 * The demo workspace is chosen to exercise a client: two projects both named
 * "Street Scenes", one named "Cars / Trucks" (a slash), an empty project, and
 * one project no configured key may see (403). The main project uses a
 * user-made Review stage with a UUID id between the default Label and
 * Complete stages (ids equal to names), as Ango Hub does.
 */
#include <stdio.h>
#include <string.h>

#include "seed_data.h"

/* clang-format off */
#define OPT(v, id) "{\"value\":\"" v "\",\"schemaId\":\"" id "\"}"

static const char *street_schema =
	"{\"tools\":["
	"{\"tool\":\"bounding-box\",\"title\":\"Car\",\"schemaId\":\"" SCH_CAR "\","
	"\"required\":false,\"columnField\":false,\"color\":\"#f44336\",\"shortcutKey\":\"1\","
	"\"classifications\":[{\"tool\":\"radio\",\"title\":\"Occluded\",\"schemaId\":\"" SCH_OCCLUDED
	"\",\"required\":true,\"options\":[" OPT("Yes", "oOccY001") "," OPT("No", "oOccN001")
	"],\"classifications\":[]}],\"options\":[]},"
	"{\"tool\":\"bounding-box\",\"title\":\"Pedestrian\",\"schemaId\":\"" SCH_PED "\","
	"\"required\":false,\"columnField\":false,\"color\":\"#2196f3\",\"shortcutKey\":\"2\","
	"\"classifications\":[],\"options\":[]},"
	"{\"tool\":\"polygon\",\"title\":\"Road\",\"schemaId\":\"" SCH_ROAD "\",\"required\":false,"
	"\"columnField\":false,\"color\":\"#9e9e9e\",\"shortcutKey\":\"3\",\"classifications\":[],"
	"\"options\":[]},"
	"{\"tool\":\"polyline\",\"title\":\"Lane\",\"schemaId\":\"" SCH_LANE "\",\"required\":false,"
	"\"columnField\":false,\"color\":\"#ffeb3b\",\"shortcutKey\":\"4\",\"classifications\":[],"
	"\"options\":[]},"
	"{\"tool\":\"point\",\"title\":\"Traffic Light\",\"schemaId\":\"" SCH_LIGHT "\","
	"\"required\":false,\"columnField\":false,\"color\":\"#4caf50\",\"shortcutKey\":\"5\","
	"\"classifications\":[{\"tool\":\"radio\",\"title\":\"Light Color\",\"schemaId\":\"" SCH_LIGHTCOLOR
	"\",\"required\":false,\"options\":[" OPT("Red", "oLRed001") "," OPT("Yellow", "oLYel001") ","
	OPT("Green", "oLGrn001") "],\"classifications\":[{\"tool\":\"text\",\"title\":"
	"\"Visibility note\",\"schemaId\":\"" SCH_VISNOTE "\",\"required\":false,\"options\":[],"
	"\"classifications\":[]}]}],\"options\":[]}"
	"],\"classifications\":["
	"{\"tool\":\"radio\",\"title\":\"Weather\",\"schemaId\":\"" SCH_WEATHER "\",\"required\":true,"
	"\"columnField\":false,\"options\":[" OPT("Sunny", "oWSun001") "," OPT("Cloudy", "oWClo001") ","
	OPT("Rain", "oWRai001") "," OPT("Snow", "oWSno001") "],\"classifications\":[]},"
	"{\"tool\":\"checkbox\",\"title\":\"Scene Attributes\",\"schemaId\":\"" SCH_ATTRS "\","
	"\"required\":false,\"columnField\":false,\"options\":[" OPT("Night", "oANig001") ","
	OPT("Urban", "oAUrb001") "," OPT("Highway", "oAHwy001") "," OPT("Construction", "oACon001")
	"],\"classifications\":[]},"
	"{\"tool\":\"text\",\"title\":\"Comment\",\"schemaId\":\"" SCH_COMMENT "\",\"required\":false,"
	"\"columnField\":false,\"options\":[],\"classifications\":[]},"
	"{\"tool\":\"radio\",\"title\":\"Quality\",\"schemaId\":\"" SCH_QUALITY "\",\"required\":false,"
	"\"columnField\":false,\"options\":[" OPT("Good", "oQGoo001") "," OPT("Poor", "oQPoo001")
	"],\"classifications\":[{\"tool\":\"checkbox\",\"title\":\"Issues\",\"schemaId\":\"" SCH_ISSUES
	"\",\"required\":false,\"parentOptionId\":\"oQPoo001\",\"options\":[" OPT("Blur", "oIBlu001") ","
	OPT("Glare", "oIGla001") "," OPT("Dark", "oIDar001") "],\"classifications\":[]}]}"
	"],\"relations\":["
	"{\"tool\":\"one-to-one\",\"title\":\"Follows\",\"schemaId\":\"" SCH_FOLLOWS "\","
	"\"required\":false,\"options\":[],\"classifications\":[]},"
	"{\"tool\":\"group\",\"title\":\"Convoy\",\"schemaId\":\"" SCH_CONVOY "\",\"required\":false,"
	"\"options\":[],\"classifications\":[]}"
	"]}";

static const char *vehicle_schema =
	"{\"tools\":["
	"{\"tool\":\"bounding-box\",\"title\":\"Car\",\"schemaId\":\"" SCH_V_CAR "\","
	"\"required\":false,\"color\":\"#ff9800\",\"classifications\":[],\"options\":[]},"
	"{\"tool\":\"bounding-box\",\"title\":\"Truck\",\"schemaId\":\"" SCH_V_TRUCK "\","
	"\"required\":false,\"color\":\"#795548\",\"classifications\":[],\"options\":[]}"
	"],\"classifications\":["
	"{\"tool\":\"checkbox\",\"title\":\"Vehicle Attributes\",\"schemaId\":\"" SCH_V_ATTRS "\","
	"\"required\":false,\"options\":[" OPT("Parked", "oVPar001") "," OPT("Moving", "oVMov001") ","
	OPT("Commercial", "oVCom001") "],\"classifications\":[]}"
	"],\"relations\":[]}";

struct demo_project demo_projects[] = {
	{1, "Street Scenes", "Dashcam frames: cars, pedestrians, roads, lanes, traffic lights", NULL,
	 10, 240, "street_%04llu.jpg", "https://storage.example.com/street-scenes/%s",
	 {"Start", "Label", DEMO_REVIEW_ID, "Complete"}, 0,
	 {"Batch A", "Batch B", "Night Drive", NULL}, "2025-01-06T08:00:00.000Z"},
	{2, "Street Scenes", "A second project with the same name (pilot run)", NULL, 12, 12,
	 "pilot_%03llu.jpg", "https://storage.example.com/pilot/%s",
	 {"Start", "Label", NULL, "Complete"}, 0, {"Pilot", NULL, NULL, NULL},
	 "2025-01-07T08:00:00.000Z"},
	{3, "Cars / Trucks", "Vehicle boxes; the name holds a slash", NULL, 14, 30,
	 "vehicle_%03llu.png", "https://storage.example.com/vehicles/%s",
	 {"Start", "Label", NULL, "Complete"}, 1, {"Week 1", "Week 2", NULL, NULL},
	 "2025-01-08T08:00:00.000Z"},
	{4, "Empty Project", "No assets yet", NULL, 16, 0, "empty_%llu", "https://x/%s",
	 {"Start", "Label", NULL, "Complete"}, 0, {NULL}, "2025-01-09T08:00:00.000Z"},
	{5, "Restricted Medical", "Visible to no configured API key (403)", "", 18, 5,
	 "scan_%02llu.dcm", "https://storage.example.com/medical/%s",
	 {"Start", "Label", NULL, "Complete"}, 1, {NULL}, "2025-01-10T08:00:00.000Z"},
	/* task types mixed (seed.c): what an export without taskTypes holds differs by profile */
	{6, "Consensus Review", "Default, consensus and benchmark tasks side by side", NULL, 20, 12,
	 "consensus_%02llu.jpg", "https://storage.example.com/consensus/%s",
	 {"Start", "Label", NULL, "Complete"}, 0, {"Round 1", "Round 2", NULL, NULL},
	 "2025-01-11T08:00:00.000Z"},
	/* assets are pictures in the hub's storage (seed.c add_photos) */
	{7, "Street Photos", "Street pictures in the hub's storage; the boxes are on the shapes",
	 NULL, 22, 8, "photo_%02llu.png", "https://unused/%s",
	 {"Start", "Label", NULL, "Complete"}, 0, {"Day", "Dusk", NULL, NULL},
	 "2025-01-12T08:00:00.000Z"},
	{0, NULL, NULL, NULL, 0, 0, NULL, NULL, {NULL}, 0, {NULL}, NULL},
};

/* clang-format on */

static json_t *stages_json(const char *const stages[4])
{
	json_t *a = json_array();
	const char *review = stages[2];
	int x = 100;

	json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:[s],s:{s:i,s:i}}", "id", "Start", "name",
					   "Start", "type", "Start", "next", "Label", "position",
					   "x", x, "y", 100));
	json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:[s],s:{s:i,s:i}}", "id", "Label", "name",
					   "Label", "type", "Label", "next",
					   review ? review : "Complete", "position", "x", x += 200,
					   "y", 100));
	if (review)
		json_array_append_new(a,
				      json_pack("{s:s,s:s,s:s,s:[s],s:{s:i,s:i}}", "id", review,
						"name", "Review", "type", "Review", "next",
						"Complete", "position", "x", x += 200, "y", 100));
	json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:[],s:{s:i,s:i}}", "id", "Complete",
					   "name", "Complete", "type", "Complete", "next",
					   "position", "x", x + 200, "y", 100));
	return a;
}

static json_t *project_doc(const char *id, const char *name, const char *desc, int ontology,
			   const char *const stages[4], json_t *batches, const char *created)
{
	char org[25];
	json_t *schema = json_loads(ontology ? vehicle_schema : street_schema, 0, NULL);

	make_id(org, 9, 1);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:[{s:s,s:s},{s:s,s:s}],s:i,s:b,s:i,"
			 "s:n,s:s,s:i,s:{},s:[],s:b,s:{},s:b,s:b,s:b,s:b,s:s,s:i}",
			 "_id", id, "name", name, "description", desc, "type", "ango", "owner",
			 "admin@example.com", "organization", org, "categorySchema", schema,
			 "stages", stages_json(stages), "batches", batches, "assignedTo",
			 "assignee", "alice@example.com", "role", "Labeler", "assignee",
			 "reviewer@example.com", "role", "Reviewer", "queueVersion", 2,
			 "benchmarkEnabled", 0, "benchmarkRatio", 0, "instructions", "ocrLanguage",
			 "eng", "idleTimeout", 300, "projectPlugins", "pluginPresets",
			 "errorCodesEnabled", 0, "errorSchema", "exportStorageEnabled", 0,
			 "taskSkipEnabled", 1, "unassignSkippedTask", 0, "gcSyncEnabled", 0,
			 "createdAt", created, "consensusCount", 1);
}

json_t *demo_project_doc(const struct demo_project *p)
{
	char id[25], bid[25];
	json_t *batches = json_array();
	static const char *colors[] = {"#e91e63", "#3f51b5", "#009688", "#ff5722"};

	make_id(id, 1, (uint64_t)p->index);
	for (int i = 0; i < 4 && p->batches[i]; i++) {
		make_id(bid, 5, (uint64_t)(p->index * 10 + i));
		json_array_append_new(batches, json_pack("{s:s,s:s,s:s,s:s}", "_id", bid, "name",
							 p->batches[i], "description", "", "color",
							 colors[i]));
	}
	return project_doc(id, p->name, p->description, p->ontology, p->stages, batches,
			   p->created);
}

json_t *synthetic_project_doc(unsigned long long n)
{
	static const char *const stages[4] = {"Start", "Label", DEMO_REVIEW_ID, "Complete"};
	char id[25], bid[25], name[64], desc[128];
	json_t *batches = json_array();

	make_id(id, 2, n);
	for (int i = 0; i < 3; i++) {
		make_id(bid, 6, (n << 4) | (unsigned)i);
		json_array_append_new(batches, json_pack("{s:s,s:s,s:s,s:s}", "_id", bid, "name",
							 i == 0	  ? "Part 1"
							 : i == 1 ? "Part 2"
								  : "Flagged",
							 "description", "", "color", "#607d8b"));
	}
	snprintf(name, sizeof(name), "synthetic-%llu", n);
	snprintf(desc, sizeof(desc), "Generated project with %llu tasks (benchmarks)", n);
	return project_doc(id, name, desc, 0, stages, batches, "2025-02-01T08:00:00.000Z");
}

json_t *seed_vehicle_answer(uint64_t i, int64_t t, const char *who)
{
	uint64_t s = i * 104729 + 7;
	json_t *tools = json_array(), *attrs = json_array();
	int n = 1 + (int)(mix64(s) % 3), k;
	char oid[32];

	for (k = 0; k < n; k++) {
		uint64_t r = mix64(s + (uint64_t)k);
		int truck = (r & 3) == 0;

		snprintf(oid, sizeof(oid), "v%llu-%d", (unsigned long long)i, k);
		json_array_append_new(
		    tools,
		    json_pack("{s:s,s:s,s:s,s:{s:f,s:f,s:f,s:f},s:i}", "schemaId",
			      truck ? SCH_V_TRUCK : SCH_V_CAR, "objectId", oid, "title",
			      truck ? "Truck" : "Car", "bounding-box", "x", (double)(r % 1200), "y",
			      (double)((r >> 12) % 600), "width", 80.0 + (double)((r >> 24) % 200),
			      "height", 50.0 + (double)((r >> 32) % 120), "page", 0));
	}
	json_array_append_new(attrs, json_string(mix64(s + 9) & 1 ? "Parked" : "Moving"));
	(void)t;
	(void)who;
	return json_pack("{s:o,s:[{s:s,s:s,s:s,s:s,s:o}],s:[]}", "tools", tools, "classifications",
			 "objectId", "va", "schemaId", SCH_V_ATTRS, "tool", "checkbox", "title",
			 "Vehicle Attributes", "answer", attrs, "relations");
}
