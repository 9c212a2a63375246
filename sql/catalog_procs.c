/*
 * catalog_procs.c — the rows of pg_proc that are not ContextDB's own table functions: the input,
 * output, receive and send functions of every type in pg_type, the subscript handlers, and the
 * system functions clients look up by name (set_config, pg_database_size, to_json, …).
 *
 * The rows are PostgreSQL 15's (OID, name, argument and result types, prosrc, volatility,
 * strictness), copied from its pg_proc for exactly the types of common/pgtypes.h, so a client
 * that joins pg_type.typinput to pg_proc.oid (psqlODBC, pgjdbc, asyncpg's type introspection)
 * finds the function PostgreSQL has; the vector type's four functions get ContextDB's fixed OIDs
 * 16430–16433 next to its type OID 16390, as pgvector's are in its own schema. Overloads share a
 * name and differ by OID. catalog.c turns these rows into pg_proc and the reg* name lookups.
 */
#include "catalog_int.h"

#include "ctx.h"
#include "pgtypes.h"

#include <string.h>

static const cat_proc_t cat_proc_rows[] = {
    {31, "byteaout", 1, 2275, "17", "byteaout", 'i', true, 'f'},
    {33, "charout", 1, 2275, "18", "charout", 'i', true, 'f'},
    {34, "namein", 1, 19, "2275", "namein", 'i', true, 'f'},
    {35, "nameout", 1, 2275, "19", "nameout", 'i', true, 'f'},
    {38, "int2in", 1, 21, "2275", "int2in", 'i', true, 'f'},
    {39, "int2out", 1, 2275, "21", "int2out", 'i', true, 'f'},
    {40, "int2vectorin", 1, 22, "2275", "int2vectorin", 'i', true, 'f'},
    {41, "int2vectorout", 1, 2275, "22", "int2vectorout", 'i', true, 'f'},
    {42, "int4in", 1, 23, "2275", "int4in", 'i', true, 'f'},
    {43, "int4out", 1, 2275, "23", "int4out", 'i', true, 'f'},
    {44, "regprocin", 1, 24, "2275", "regprocin", 's', true, 'f'},
    {45, "regprocout", 1, 2275, "24", "regprocout", 's', true, 'f'},
    {46, "textin", 1, 25, "2275", "textin", 'i', true, 'f'},
    {47, "textout", 1, 2275, "25", "textout", 'i', true, 'f'},
    {54, "oidvectorin", 1, 30, "2275", "oidvectorin", 'i', true, 'f'},
    {55, "oidvectorout", 1, 2275, "30", "oidvectorout", 'i', true, 'f'},
    {109, "unknownin", 1, 705, "2275", "unknownin", 'i', true, 'f'},
    {110, "unknownout", 1, 2275, "705", "unknownout", 'i', true, 'f'},
    {200, "float4in", 1, 700, "2275", "float4in", 'i', true, 'f'},
    {201, "float4out", 1, 2275, "700", "float4out", 'i', true, 'f'},
    {214, "float8in", 1, 701, "2275", "float8in", 'i', true, 'f'},
    {215, "float8out", 1, 2275, "701", "float8out", 'i', true, 'f'},
    {321, "json_in", 1, 114, "2275", "json_in", 'i', true, 'f'},
    {322, "json_out", 1, 2275, "114", "json_out", 'i', true, 'f'},
    {323, "json_recv", 1, 114, "2281", "json_recv", 'i', true, 'f'},
    {324, "json_send", 1, 17, "114", "json_send", 'i', true, 'f'},
    {460, "int8in", 1, 20, "2275", "int8in", 'i', true, 'f'},
    {461, "int8out", 1, 2275, "20", "int8out", 'i', true, 'f'},
    {750, "array_in", 3, 2277, "2275 26 23", "array_in", 's', true, 'f'},
    {751, "array_out", 1, 2275, "2277", "array_out", 's', true, 'f'},
    {1031, "aclitemin", 1, 1033, "2275", "aclitemin", 's', true, 'f'},
    {1032, "aclitemout", 1, 2275, "1033", "aclitemout", 's', true, 'f'},
    {1044, "bpcharin", 3, 1042, "2275 26 23", "bpcharin", 'i', true, 'f'},
    {1045, "bpcharout", 1, 2275, "1042", "bpcharout", 'i', true, 'f'},
    {1046, "varcharin", 3, 1043, "2275 26 23", "varcharin", 'i', true, 'f'},
    {1047, "varcharout", 1, 2275, "1043", "varcharout", 'i', true, 'f'},
    {1084, "date_in", 1, 1082, "2275", "date_in", 's', true, 'f'},
    {1085, "date_out", 1, 2275, "1082", "date_out", 's', true, 'f'},
    {1150, "timestamptz_in", 3, 1184, "2275 26 23", "timestamptz_in", 's', true, 'f'},
    {1151, "timestamptz_out", 1, 2275, "1184", "timestamptz_out", 's', true, 'f'},
    {1160, "interval_in", 3, 1186, "2275 26 23", "interval_in", 's', true, 'f'},
    {1161, "interval_out", 1, 2275, "1186", "interval_out", 's', true, 'f'},
    {1191, "generate_subscripts", 3, 23, "2277 23 16", "generate_subscripts", 'i', true, 'f'},
    {1192, "generate_subscripts", 2, 23, "2277 23", "generate_subscripts_nodir", 'i', true, 'f'},
    {1242, "boolin", 1, 16, "2275", "boolin", 'i', true, 'f'},
    {1243, "boolout", 1, 2275, "16", "boolout", 'i', true, 'f'},
    {1244, "byteain", 1, 17, "2275", "byteain", 'i', true, 'f'},
    {1245, "charin", 1, 18, "2275", "charin", 'i', true, 'f'},
    {1312, "timestamp_in", 3, 1114, "2275 26 23", "timestamp_in", 's', true, 'f'},
    {1313, "timestamp_out", 1, 2275, "1114", "timestamp_out", 's', true, 'f'},
    {1643, "pg_get_indexdef", 1, 25, "26", "pg_get_indexdef", 's', true, 'f'},
    {1701, "numeric_in", 3, 1700, "2275 26 23", "numeric_in", 'i', true, 'f'},
    {1702, "numeric_out", 1, 2275, "1700", "numeric_out", 'i', true, 'f'},
    {1798, "oidin", 1, 26, "2275", "oidin", 'i', true, 'f'},
    {1799, "oidout", 1, 2275, "26", "oidout", 'i', true, 'f'},
    {2077, "current_setting", 1, 25, "25", "show_config_by_name", 's', true, 'f'},
    {2078, "set_config", 3, 25, "25 25 16", "set_config_by_name", 'v', false, 'f'},
    {2098, "pg_get_functiondef", 1, 25, "26", "pg_get_functiondef", 's', true, 'f'},
    {2168, "pg_database_size", 1, 20, "19", "pg_database_size_name", 'v', true, 'f'},
    {2218, "regclassin", 1, 2205, "2275", "regclassin", 's', true, 'f'},
    {2219, "regclassout", 1, 2275, "2205", "regclassout", 's', true, 'f'},
    {2220, "regtypein", 1, 2206, "2275", "regtypein", 's', true, 'f'},
    {2221, "regtypeout", 1, 2275, "2206", "regtypeout", 's', true, 'f'},
    {2286, "pg_total_relation_size", 1, 20, "2205", "pg_total_relation_size", 'v', true, 'f'},
    {2288, "pg_size_pretty", 1, 25, "20", "pg_size_pretty", 'i', true, 'f'},
    {2290, "record_in", 3, 2249, "2275 26 23", "record_in", 's', true, 'f'},
    {2291, "record_out", 1, 2275, "2249", "record_out", 's', true, 'f'},
    {2324, "pg_database_size", 1, 20, "26", "pg_database_size_oid", 'v', true, 'f'},
    {2325, "pg_relation_size", 1, 20, "2205", "", 'v', true, 'f'},
    {2332, "pg_relation_size", 2, 20, "2205 25", "pg_relation_size", 'v', true, 'f'},
    {2400, "array_recv", 3, 2277, "2281 26 23", "array_recv", 's', true, 'f'},
    {2401, "array_send", 1, 17, "2277", "array_send", 's', true, 'f'},
    {2402, "record_recv", 3, 2249, "2281 26 23", "record_recv", 's', true, 'f'},
    {2403, "record_send", 1, 17, "2249", "record_send", 's', true, 'f'},
    {2404, "int2recv", 1, 21, "2281", "int2recv", 'i', true, 'f'},
    {2405, "int2send", 1, 17, "21", "int2send", 'i', true, 'f'},
    {2406, "int4recv", 1, 23, "2281", "int4recv", 'i', true, 'f'},
    {2407, "int4send", 1, 17, "23", "int4send", 'i', true, 'f'},
    {2408, "int8recv", 1, 20, "2281", "int8recv", 'i', true, 'f'},
    {2409, "int8send", 1, 17, "20", "int8send", 'i', true, 'f'},
    {2410, "int2vectorrecv", 1, 22, "2281", "int2vectorrecv", 'i', true, 'f'},
    {2411, "int2vectorsend", 1, 17, "22", "int2vectorsend", 'i', true, 'f'},
    {2412, "bytearecv", 1, 17, "2281", "bytearecv", 'i', true, 'f'},
    {2413, "byteasend", 1, 17, "17", "byteasend", 'i', true, 'f'},
    {2414, "textrecv", 1, 25, "2281", "textrecv", 's', true, 'f'},
    {2415, "textsend", 1, 17, "25", "textsend", 's', true, 'f'},
    {2416, "unknownrecv", 1, 705, "2281", "unknownrecv", 'i', true, 'f'},
    {2417, "unknownsend", 1, 17, "705", "unknownsend", 'i', true, 'f'},
    {2418, "oidrecv", 1, 26, "2281", "oidrecv", 'i', true, 'f'},
    {2419, "oidsend", 1, 17, "26", "oidsend", 'i', true, 'f'},
    {2420, "oidvectorrecv", 1, 30, "2281", "oidvectorrecv", 'i', true, 'f'},
    {2421, "oidvectorsend", 1, 17, "30", "oidvectorsend", 'i', true, 'f'},
    {2422, "namerecv", 1, 19, "2281", "namerecv", 's', true, 'f'},
    {2423, "namesend", 1, 17, "19", "namesend", 's', true, 'f'},
    {2424, "float4recv", 1, 700, "2281", "float4recv", 'i', true, 'f'},
    {2425, "float4send", 1, 17, "700", "float4send", 'i', true, 'f'},
    {2426, "float8recv", 1, 701, "2281", "float8recv", 'i', true, 'f'},
    {2427, "float8send", 1, 17, "701", "float8send", 'i', true, 'f'},
    {2430, "bpcharrecv", 3, 1042, "2281 26 23", "bpcharrecv", 's', true, 'f'},
    {2431, "bpcharsend", 1, 17, "1042", "bpcharsend", 's', true, 'f'},
    {2432, "varcharrecv", 3, 1043, "2281 26 23", "varcharrecv", 's', true, 'f'},
    {2433, "varcharsend", 1, 17, "1043", "varcharsend", 's', true, 'f'},
    {2434, "charrecv", 1, 18, "2281", "charrecv", 'i', true, 'f'},
    {2435, "charsend", 1, 17, "18", "charsend", 'i', true, 'f'},
    {2436, "boolrecv", 1, 16, "2281", "boolrecv", 'i', true, 'f'},
    {2437, "boolsend", 1, 17, "16", "boolsend", 'i', true, 'f'},
    {2444, "regprocrecv", 1, 24, "2281", "regprocrecv", 'i', true, 'f'},
    {2445, "regprocsend", 1, 17, "24", "regprocsend", 'i', true, 'f'},
    {2452, "regclassrecv", 1, 2205, "2281", "regclassrecv", 'i', true, 'f'},
    {2453, "regclasssend", 1, 17, "2205", "regclasssend", 'i', true, 'f'},
    {2454, "regtyperecv", 1, 2206, "2281", "regtyperecv", 'i', true, 'f'},
    {2455, "regtypesend", 1, 17, "2206", "regtypesend", 'i', true, 'f'},
    {2460, "numeric_recv", 3, 1700, "2281 26 23", "numeric_recv", 'i', true, 'f'},
    {2461, "numeric_send", 1, 17, "1700", "numeric_send", 'i', true, 'f'},
    {2468, "date_recv", 1, 1082, "2281", "date_recv", 'i', true, 'f'},
    {2469, "date_send", 1, 17, "1082", "date_send", 'i', true, 'f'},
    {2474, "timestamp_recv", 3, 1114, "2281 26 23", "timestamp_recv", 'i', true, 'f'},
    {2475, "timestamp_send", 1, 17, "1114", "timestamp_send", 'i', true, 'f'},
    {2476, "timestamptz_recv", 3, 1184, "2281 26 23", "timestamptz_recv", 'i', true, 'f'},
    {2477, "timestamptz_send", 1, 17, "1184", "timestamptz_send", 'i', true, 'f'},
    {2478, "interval_recv", 3, 1186, "2281 26 23", "interval_recv", 'i', true, 'f'},
    {2479, "interval_send", 1, 17, "1186", "interval_send", 'i', true, 'f'},
    {2952, "uuid_in", 1, 2950, "2275", "uuid_in", 'i', true, 'f'},
    {2953, "uuid_out", 1, 2275, "2950", "uuid_out", 'i', true, 'f'},
    {2961, "uuid_recv", 1, 2950, "2281", "uuid_recv", 'i', true, 'f'},
    {2962, "uuid_send", 1, 17, "2950", "uuid_send", 'i', true, 'f'},
    {3166, "pg_size_pretty", 1, 25, "1700", "pg_size_pretty_numeric", 'i', true, 'f'},
    {3175, "json_agg", 1, 114, "2283", "aggregate_dummy", 's', false, 'a'},
    {3176, "to_json", 1, 114, "2283", "to_json", 's', true, 'f'},
    {3197, "json_object_agg", 2, 114, "2276 2276", "aggregate_dummy", 's', false, 'a'},
    {3200, "json_build_object", 1, 114, "2276", "json_build_object", 's', false, 'f'},
    {3201, "json_build_object", 0, 114, "", "json_build_object_noargs", 's', false, 'f'},
    {3267, "jsonb_agg", 1, 3802, "2283", "aggregate_dummy", 's', false, 'a'},
    {3270, "jsonb_object_agg", 2, 3802, "2276 2276", "aggregate_dummy", 'i', false, 'a'},
    {3273, "jsonb_build_object", 1, 3802, "2276", "jsonb_build_object", 's', false, 'f'},
    {3274, "jsonb_build_object", 0, 3802, "", "jsonb_build_object_noargs", 's', false, 'f'},
    {3294, "current_setting", 2, 25, "25 16", "show_config_by_name_missing_ok", 's', true, 'f'},
    {3803, "jsonb_send", 1, 17, "3802", "jsonb_send", 'i', true, 'f'},
    {3804, "jsonb_out", 1, 2275, "3802", "jsonb_out", 'i', true, 'f'},
    {3805, "jsonb_recv", 1, 3802, "2281", "jsonb_recv", 'i', true, 'f'},
    {3806, "jsonb_in", 1, 3802, "2275", "jsonb_in", 'i', true, 'f'},
    {4084, "regnamespacein", 1, 4089, "2275", "regnamespacein", 's', true, 'f'},
    {4085, "regnamespaceout", 1, 2275, "4089", "regnamespaceout", 's', true, 'f'},
    {4087, "regnamespacerecv", 1, 4089, "2281", "regnamespacerecv", 'i', true, 'f'},
    {4088, "regnamespacesend", 1, 17, "4089", "regnamespacesend", 'i', true, 'f'},
    {6179, "array_subscript_handler", 1, 2281, "2281", "array_subscript_handler", 'i', true, 'f'},
    {6180, "raw_array_subscript_handler", 1, 2281, "2281", "raw_array_subscript_handler", 'i', true,
     'f'},
    {16430, "vector_in", 3, 16390, "2275 26 23", "vector_in", 'i', true, 'f'},
    {16431, "vector_out", 1, 2275, "16390", "vector_out", 'i', true, 'f'},
    {16432, "vector_recv", 3, 16390, "2281 26 23", "vector_recv", 'i', true, 'f'},
    {16433, "vector_send", 1, 17, "16390", "vector_send", 'i', true, 'f'},
};

static const cat_typio_t cat_typio_rows[] = {
    {16, 1242, 1243, 2436, 2437, 0, 'c', 'p'},
    {17, 1244, 31, 2412, 2413, 0, 'i', 'x'},
    {18, 1245, 33, 2434, 2435, 0, 'c', 'p'},
    {19, 34, 35, 2422, 2423, 6180, 'c', 'p'},
    {20, 460, 461, 2408, 2409, 0, 'd', 'p'},
    {21, 38, 39, 2404, 2405, 0, 's', 'p'},
    {22, 40, 41, 2410, 2411, 6179, 'i', 'p'},
    {23, 42, 43, 2406, 2407, 0, 'i', 'p'},
    {24, 44, 45, 2444, 2445, 0, 'i', 'p'},
    {25, 46, 47, 2414, 2415, 0, 'i', 'x'},
    {26, 1798, 1799, 2418, 2419, 0, 'i', 'p'},
    {30, 54, 55, 2420, 2421, 6179, 'i', 'p'},
    {114, 321, 322, 323, 324, 0, 'i', 'x'},
    {700, 200, 201, 2424, 2425, 0, 'i', 'p'},
    {701, 214, 215, 2426, 2427, 0, 'd', 'p'},
    {705, 109, 110, 2416, 2417, 0, 'c', 'p'},
    {1000, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {1003, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {1005, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {1007, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {1009, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {1016, 750, 751, 2400, 2401, 6179, 'd', 'x'},
    {1021, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {1022, 750, 751, 2400, 2401, 6179, 'd', 'x'},
    {1028, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {1033, 1031, 1032, 0, 0, 0, 'i', 'p'},
    {1042, 1044, 1045, 2430, 2431, 0, 'i', 'x'},
    {1043, 1046, 1047, 2432, 2433, 0, 'i', 'x'},
    {1082, 1084, 1085, 2468, 2469, 0, 'i', 'p'},
    {1114, 1312, 1313, 2474, 2475, 0, 'd', 'p'},
    {1184, 1150, 1151, 2476, 2477, 0, 'd', 'p'},
    {1186, 1160, 1161, 2478, 2479, 0, 'd', 'p'},
    {1700, 1701, 1702, 2460, 2461, 0, 'i', 'm'},
    {2205, 2218, 2219, 2452, 2453, 0, 'i', 'p'},
    {2206, 2220, 2221, 2454, 2455, 0, 'i', 'p'},
    {2249, 2290, 2291, 2402, 2403, 0, 'd', 'x'},
    {2950, 2952, 2953, 2961, 2962, 0, 'c', 'p'},
    {3802, 3806, 3804, 3805, 3803, 6098, 'i', 'x'},
    {3807, 750, 751, 2400, 2401, 6179, 'i', 'x'},
    {4089, 4084, 4085, 4087, 4088, 0, 'i', 'p'},
    {16390, 16430, 16431, 16432, 16433, 0, 'i', 'x'},
    {16391, 750, 751, 2400, 2401, 6179, 'i', 'x'},
};
_Static_assert(sizeof(cat_typio_rows) / sizeof(cat_typio_rows[0]) == PGTYPES_COUNT,
               "one row of I/O functions per pg_type row");

size_t catalog_proc_count(void) {
    return sizeof(cat_proc_rows) / sizeof(cat_proc_rows[0]);
}

const cat_proc_t *catalog_proc_at(size_t index) {
    CTX_ASSERT(index < catalog_proc_count());
    return &cat_proc_rows[index];
}

const cat_proc_t *catalog_proc_by_oid(uint32_t oid) {
    for (size_t i = 0; i < catalog_proc_count(); i++) {
        if (cat_proc_rows[i].oid == oid) {
            return &cat_proc_rows[i];
        }
    }
    return NULL;
}

const cat_proc_t *catalog_proc_by_name(const char *name) {
    CTX_ASSERT(name != NULL);
    for (size_t i = 0; i < catalog_proc_count(); i++) {
        if (strcmp(cat_proc_rows[i].name, name) == 0) {
            return &cat_proc_rows[i];
        }
    }
    return NULL;
}

const cat_typio_t *catalog_typio(uint32_t type_oid) {
    for (size_t i = 0; i < sizeof(cat_typio_rows) / sizeof(cat_typio_rows[0]); i++) {
        if (cat_typio_rows[i].type == type_oid) {
            return &cat_typio_rows[i];
        }
    }
    return NULL;
}
