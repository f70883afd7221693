/*
 * storage_route.c - GET|HEAD|PUT /storage/<key>: the storage service side of
 * signed URLs (storage.c has the model).
 *
 * No API key is looked at. GET/HEAD of a public object needs nothing; of a
 * private one a signature for GET that has not expired. PUT needs a signature
 * for PUT (from GET /v2/getUploadUrl) and stores the body; the new object is
 * private. Refusals are 403 with an S3-like XML body ("Request has expired",
 * "SignatureDoesNotMatch", "AccessDenied"); a missing object is 404 NoSuchKey.
 * Files are streamed by libmicrohttpd from the descriptor (Range: one
 * "bytes=A-[B]" honoured, 206); generated objects (a "gen" recipe, e.g. a
 * synthetic image) are rendered in memory on each request. Faults
 * stall_after / drop_after / corrupt on "GET /storage" stream a stored file
 * through download.c's callback, as for export downloads.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hubd.h"

/* 0 = signature good for method, else a reply has been set. */
static int check_signature(struct req *r, struct reply *out, const char *method, const char *key)
{
	const char *exp = req_arg(r, "Expires"), *sig = req_arg(r, "Signature");
	char want[65], *end;
	long long e;

	if (!exp || !sig) {
		xml_error(out, 403, "AccessDenied", "Access Denied");
		return -1;
	}
	e = strtoll(exp, &end, 10);
	storage_sign(method, key, *end ? -1 : e, want);
	if (*end || strlen(sig) != 64 || CRYPTO_memcmp(want, sig, 64)) {
		xml_error(out, 403, "SignatureDoesNotMatch",
			  "The request signature we calculated does not match the signature you "
			  "provided.");
		return -1;
	}
	if (now_ms() / 1000 >= e) {
		xml_error(out, 403, "AccessDenied", "Request has expired");
		return -1;
	}
	return 0;
}

static void put_object(struct req *r, struct reply *out, const char *key)
{
	const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
	sqlite3 *db;
	int rc;

	if (check_signature(r, out, "PUT", key) < 0)
		return;
	db = db_acquire();
	rc = storage_put(db, key, ct, r->body ? r->body : "", r->body_len, 0, NULL);
	db_release(db);
	if (rc < 0) {
		xml_error(out, 500, "InternalError", strerror(-rc));
		return;
	}
	reply_text(out, 200, "application/xml", "");
}

static void get_object(struct req *r, struct reply *out, const char *key,
		       const struct fault_hit *hit, long long *bytes_out)
{
	char *ctype = NULL, *gen = NULL, path[4400];
	int pub = -1, fd;
	struct MHD_Response *resp = NULL;
	struct stat sb;
	sqlite3 *db = db_acquire();

	if (storage_lookup(db, key, &pub, &ctype, &gen) < 0)
		pub = -1;
	db_release(db);
	/* a private object and a missing one look the same without a signature */
	if (pub != 1 && check_signature(r, out, "GET", key) < 0)
		goto out;
	if (pub < 0) {
		xml_error(out, 404, "NoSuchKey", "The specified key does not exist.");
		goto out;
	}
	if (gen) {
		size_t len = 0;
		void *data = storage_generate(gen, &len);

		if (!data) {
			xml_error(out, 500, "InternalError", "cannot generate the object");
			goto out;
		}
		/* rendered anew each time: the whole object, Range not honoured */
		resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
		if (!resp) {
			free(data);
			xml_error(out, 500, "InternalError", "cannot create response");
			goto out;
		}
		*bytes_out = (long long)len;
		out->bytes_hint = (long long)len;
		MHD_add_response_header(resp, "Accept-Ranges", "bytes");
		out->mhd_resp = resp;
		out->status = 200;
	} else {
		snprintf(path, sizeof(path), "%s/%s", g_storage_dir, key);
		if ((fd = open_object(path, &sb, out)) < 0)
			goto out;
		if (hit && (hit->stall_after >= 0 || hit->drop_after >= 0 || hit->corrupt))
			/* fault: streamed by download.c's callback (stall, drop, corrupt) */
			resp =
			    download_file_faulted(r, out, fd, (uint64_t)sb.st_size, hit, bytes_out);
		else
			resp = reply_file_range(r, out, fd, (uint64_t)sb.st_size, NULL, NULL);
		if (!resp)
			goto out;
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Cache-Control",
				pub == 1 ? "public, max-age=3600" : "private, max-age=0");
out:
	free(ctype);
	free(gen);
}

void route_storage(struct req *r, struct reply *out, const struct fault_hit *hit,
		   long long *bytes_out)
{
	const char *key = r->path + strlen("/storage/");

	if (!storage_key_ok(key)) {
		xml_error(out, 403, "AccessDenied", "Invalid object key");
		return;
	}
	if (!strcmp(r->method, "PUT"))
		put_object(r, out, key);
	else if (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"))
		get_object(r, out, key, hit, bytes_out);
	else
		xml_error(out, 405, "MethodNotAllowed",
			  "The specified method is not allowed against this resource.");
}
