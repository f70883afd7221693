/*
 * seed_data.h - fixed content of the demo seed (see seed_data.c): schemaIds
 * that tests may rely on, the demo project table, and project documents.
 */
#ifndef ANGOFS_HUB_SEED_DATA_H
#define ANGOFS_HUB_SEED_DATA_H

#include "hubd.h"

/* street-scene ontology (main demo project and synthetic projects) */
#define SCH_CAR "tCar0001"
#define SCH_OCCLUDED "cOccl001"
#define SCH_PED "tPed0001"
#define SCH_ROAD "tRoad001"
#define SCH_LANE "tLane001"
#define SCH_LIGHT "tLight01"
#define SCH_LIGHTCOLOR "cLCol001"
#define SCH_VISNOTE "cVisN001"
#define SCH_WEATHER "cWeath01"
#define SCH_ATTRS "cAttr001"
#define SCH_COMMENT "cComm001"
#define SCH_QUALITY "cQual001"
#define SCH_ISSUES "cIssu001"
#define SCH_FOLLOWS "rFoll001"
#define SCH_CONVOY "rConv001"
/* vehicle ontology ("Cars / Trucks") */
#define SCH_V_CAR "vCar0001"
#define SCH_V_TRUCK "vTruck01"
#define SCH_V_ATTRS "vAttr001"

#define DEMO_REVIEW_ID "5f0c2b7e-3a41-4d8e-9c6b-1e2f3a4b5c6d"

typedef json_t *(*answer_fn)(uint64_t i, int64_t t, const char *who);

struct demo_project {
	int index; /* make_id(1, index) is the project id */
	const char *name;
	const char *description;
	const char *acl; /* NULL: every key; "": nobody (the 403 project) */
	unsigned kind;	 /* id kind of its assets (tasks use kind + 1) */
	uint64_t ntasks;
	const char *ext_fmt, *url_fmt;
	const char *stages[4]; /* Start, Label, Review (NULL: none), Complete slot ids */
	int ontology;	       /* 0 street, 1 vehicles */
	const char *batches[4];
	const char *created;
};

extern struct demo_project demo_projects[];

json_t *demo_project_doc(const struct demo_project *p);
json_t *synthetic_project_doc(unsigned long long n);
json_t *seed_street_answer(uint64_t i, int64_t t, const char *who);
json_t *seed_vehicle_answer(uint64_t i, int64_t t, const char *who);
/* seed_hostile.c: "--seed hostile" (inside seed_run's transaction) */
int seed_hostile(sqlite3 *db, char *err, size_t errlen);

#endif
