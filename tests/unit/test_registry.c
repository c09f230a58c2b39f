/*
 * registry.c: the user table, the conflict rule every server applies,
 * and the journal: written and flushed before registry_put returns,
 * replayed at open, a torn tail cut off, a corrupt line skipped.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "registry.h"
#include "server.h"

struct fixture {
	char	 dir[64];
	char	 path[128];
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	log_init("unit", LOG_LVL_WARN);
	snprintf(f->dir, sizeof f->dir, "/tmp/test_registry.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof f->path, "%s/users.journal", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct registry *
open_reg(struct fixture *f)
{
	struct registry	*r = registry_new();
	char		 err[256];

	if (registry_open(r, f->dir, err, sizeof err) != 0)
		fail_msg("registry_open: %s", err);
	return r;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE	*fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	/* A journal must be private, or the registry refuses it. */
	assert_int_equal(chmod(path, 0600), 0);
}

/* The whole file as a string (caller frees). */
static char *
read_file(const char *path, size_t *len)
{
	FILE	*fp = fopen(path, "r");
	char	*buf;
	long	 n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static off_t
file_size(const char *path)
{
	struct stat	 st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/*
 * name is known with secret: as given, or (after a plaintext journal
 * was loaded) as its hash.
 */
static void
expect_user(struct registry *r, const char *name, const char *secret)
{
	const struct user	*u = registry_find(r, name);

	if (u == NULL)
		fail_msg("user %s unknown", name);
	if (hashpool_is_hash(u->secret) && !hashpool_is_hash(secret))
		assert_true(hashpool_verify(secret, u->secret));
	else
		assert_string_equal(u->secret, secret);
}

/* A hash of plain, as a server stores it (one of 8 static buffers). */
static const char *
hs(const char *plain)
{
	static char	 buf[8][256];
	static int	 n;
	char		*b = buf[n++ % 8];

	assert_int_equal(hashpool_hash(plain, b, sizeof buf[0]), 0);
	return b;
}

static void
registry_put__new_user__added_and_found(void **state)
{
	struct registry		*r = registry_new();
	const struct user	*u;

	(void)state;
	assert_null(registry_find(r, "alice"));
	assert_int_equal(registry_put(r, "alice", "s1", 100, "srvA"),
	    REG_ADDED);
	u = registry_find(r, "alice");
	assert_non_null(u);
	assert_string_equal(u->name, "alice");
	assert_string_equal(u->secret, "s1");
	assert_string_equal(u->origin, "srvA");
	assert_int_equal(u->time, 100);
	assert_int_equal(registry_count(r), 1);
	assert_null(registry_find(r, "Alice"));
	assert_null(registry_find(r, "alic"));
	registry_free(r);
}

static void
registry_put__same_secret_again__unchanged(void **state)
{
	struct registry	*r = registry_new();

	(void)state;
	registry_put(r, "alice", "s1", 100, "srvA");
	assert_int_equal(registry_put(r, "alice", "s1", 50, "srvB"),
	    REG_UNCHANGED);
	assert_int_equal(registry_count(r), 1);
	registry_free(r);
}

static void
count_cb(const struct user *u, void *arg)
{
	(void)u;
	(*(size_t *)arg)++;
}

static void
registry_put__thousands_of_users__all_found(void **state)
{
	struct registry	*r = registry_new();
	char		 name[32], secret[32];
	size_t		 i, n = 0, N = 20000;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof name, "user%zu", i);
		snprintf(secret, sizeof secret, "secret%zu", i * 7);
		assert_int_equal(registry_put(r, name, secret, i, "o"),
		    REG_ADDED);
	}
	assert_int_equal(registry_count(r), N);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof name, "user%zu", i);
		snprintf(secret, sizeof secret, "secret%zu", i * 7);
		expect_user(r, name, secret);
	}
	assert_null(registry_find(r, "user20000"));
	registry_foreach(r, count_cb, &n);
	assert_int_equal(n, N);
	registry_free(r);
}

/* A user record for the rule. */
static struct user
mk(const char *secret, uint64_t time, const char *origin)
{
	struct user	 u;

	memset(&u, 0, sizeof u);
	u.name = (char *)"x";
	u.secret = (char *)secret;
	u.time = time;
	u.origin = (char *)origin;
	return u;
}

static void
registry_wins__earlier_time__wins(void **state)
{
	struct user	 held = mk("s", 200, "a");

	(void)state;
	assert_true(registry_wins(&held, "z", 199, "z"));
	assert_false(registry_wins(&held, "a", 201, "a"));
}

static void
registry_wins__equal_time__lower_origin_wins(void **state)
{
	struct user	 held = mk("s", 200, "m");

	(void)state;
	assert_true(registry_wins(&held, "z", 200, "a"));
	assert_false(registry_wins(&held, "a", 200, "z"));
}

static void
registry_wins__equal_time_and_origin__lower_secret_wins(void **state)
{
	struct user	 held = mk("m", 200, "o");

	(void)state;
	assert_true(registry_wins(&held, "a", 200, "o"));
	assert_false(registry_wins(&held, "z", 200, "o"));
}

/*
 * Symmetry: for any two different registrations, exactly one beats the
 * other, and two registries that learn them in opposite orders agree.
 */
static void
registry_wins__either_order__same_winner(void **state)
{
	static const struct {
		const char	*secret;
		uint64_t	 time;
		const char	*origin;
	} c[] = {
		{ "s1", 100, "a" }, { "s2", 100, "a" }, { "s1", 100, "b" },
		{ "s2", 100, "b" }, { "s1", 99, "b" }, { "s3", 101, "a" },
		{ "s0", 0, "zz" }, { "s9", 100, "" }, { "s10", 100, "a" },
	};
	size_t		 i, j, n = sizeof c / sizeof c[0];

	(void)state;
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			struct user	 ui = mk(c[i].secret, c[i].time,
					    c[i].origin);
			struct user	 uj = mk(c[j].secret, c[j].time,
					    c[j].origin);
			struct registry	*r1, *r2;
			int		 ij, ji;

			if (i == j || strcmp(c[i].secret, c[j].secret) == 0)
				continue;
			ij = registry_wins(&ui, c[j].secret, c[j].time,
			    c[j].origin);
			ji = registry_wins(&uj, c[i].secret, c[i].time,
			    c[i].origin);
			if (ij == ji)
				fail_msg("%zu vs %zu: both or neither win", i, j);

			r1 = registry_new();
			r2 = registry_new();
			registry_put(r1, "x", c[i].secret, c[i].time,
			    c[i].origin);
			registry_put(r1, "x", c[j].secret, c[j].time,
			    c[j].origin);
			registry_put(r2, "x", c[j].secret, c[j].time,
			    c[j].origin);
			registry_put(r2, "x", c[i].secret, c[i].time,
			    c[i].origin);
			assert_string_equal(registry_find(r1, "x")->secret,
			    registry_find(r2, "x")->secret);
			assert_string_equal(registry_find(r1, "x")->secret,
			    ij ? c[j].secret : c[i].secret);
			registry_free(r1);
			registry_free(r2);
		}
	}
}

static void
registry_put__loser_then_winner__replaced_else_kept(void **state)
{
	struct registry		*r = registry_new();
	const struct user	*u;

	(void)state;
	assert_int_equal(registry_put(r, "bob", "late", 300, "a"), REG_ADDED);
	assert_int_equal(registry_put(r, "bob", "early", 100, "b"),
	    REG_REPLACED);
	assert_int_equal(registry_put(r, "bob", "later", 200, "a"), REG_KEPT);
	u = registry_find(r, "bob");
	assert_string_equal(u->secret, "early");
	assert_string_equal(u->origin, "b");
	assert_int_equal(u->time, 100);
	assert_int_equal(registry_count(r), 1);
	registry_free(r);
}

static void
registry_open__fresh_dir__empty_journal_created(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;

	rmdir(f->dir);		/* registry_open creates the directory */
	r = open_reg(f);
	assert_int_equal(registry_count(r), 0);
	assert_int_equal(file_size(f->path), 0);
	registry_free(r);
}

static void
registry_put__durable__on_disk_before_return(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r = open_reg(f);
	char		*data;

	assert_int_equal(registry_put(r, "alice", "s\"1", 1234, "srvA"),
	    REG_ADDED);
	/* Read the file while the registry is still open. */
	data = read_file(f->path, NULL);
	assert_non_null(strstr(data, "\"alice\""));
	assert_non_null(strstr(data, "\"s\\\"1\""));
	assert_non_null(strstr(data, "1234"));
	assert_non_null(strstr(data, "\"srvA\""));
	assert_int_equal(data[strlen(data) - 1], '\n');
	free(data);
	registry_free(r);
}

static void
registry_open__journal__replayed(void **state)
{
	struct fixture		*f = *state;
	struct registry		*r = open_reg(f);
	const struct user	*u;

	registry_put(r, "alice", "s1", 100, "srvA");
	registry_put(r, "bob", "s2", 200, "srvB");
	registry_put(r, "caf\xc3\xa9", "s\n3", 300, "srvC");
	registry_free(r);

	r = open_reg(f);
	assert_int_equal(registry_count(r), 3);
	expect_user(r, "alice", "s1");
	expect_user(r, "bob", "s2");
	expect_user(r, "caf\xc3\xa9", "s\n3");
	u = registry_find(r, "bob");
	assert_string_equal(u->origin, "srvB");
	assert_int_equal(u->time, 200);
	registry_free(r);
}

static void
registry_open__replay__not_journalled_again(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r = open_reg(f);
	off_t		 size;

	registry_put(r, "alice", hs("s1"), 100, "srvA");
	registry_free(r);
	size = file_size(f->path);
	r = open_reg(f);
	registry_free(r);
	r = open_reg(f);
	registry_free(r);
	assert_int_equal(file_size(f->path), size);
}

/*
 * A journal from before secrets were hashed is rewritten at load with
 * their hashes: no plaintext secret is left on disk, and every user
 * still logs in with the same secret.
 */
static void
registry_open__plaintext_journal__migrated_to_hashes(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;
	char		*data;
	size_t		 len;
	const char	*j =
	    "{\"username\":\"alice\",\"secret\":\"alice-plain\",\"time\":100,"
	    "\"origin\":\"a\"}\n"
	    "{\"username\":\"bob\",\"secret\":\"bob-plain\",\"time\":200,"
	    "\"origin\":\"b\"}\n";

	write_file(f->path, j, strlen(j));
	r = open_reg(f);
	assert_int_equal(registry_count(r), 2);
	assert_true(hashpool_is_hash(registry_find(r, "alice")->secret));
	assert_true(hashpool_verify("alice-plain",
	    registry_find(r, "alice")->secret));
	assert_false(hashpool_verify("bob-plain",
	    registry_find(r, "alice")->secret));
	assert_true(hashpool_verify("bob-plain",
	    registry_find(r, "bob")->secret));
	/* Appending after the rewrite goes on the new file. */
	assert_int_equal(registry_put(r, "carol", hs("c"), 300, "c"),
	    REG_ADDED);
	registry_free(r);
	data = read_file(f->path, &len);
	assert_null(strstr(data, "alice-plain"));
	assert_null(strstr(data, "bob-plain"));
	assert_non_null(strstr(data, "\"carol\""));
	free(data);
	r = open_reg(f);
	assert_int_equal(registry_count(r), 3);
	assert_true(hashpool_verify("alice-plain",
	    registry_find(r, "alice")->secret));
	registry_free(r);
}

static void
registry_open__later_entries__override(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r = open_reg(f);

	/* The second registration wins the rule, so it is journalled. */
	assert_int_equal(registry_put(r, "alice", "first", 500, "srvB"),
	    REG_ADDED);
	assert_int_equal(registry_put(r, "alice", "second", 400, "srvA"),
	    REG_REPLACED);
	registry_free(r);

	r = open_reg(f);
	assert_int_equal(registry_count(r), 1);
	expect_user(r, "alice", "second");
	assert_string_equal(registry_find(r, "alice")->origin, "srvA");
	registry_free(r);
}

static void
registry_open__handwritten_later_line__overrides(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;
	const char	*j =
	    "{\"username\":\"alice\",\"secret\":\"old\",\"time\":100,"
	    "\"origin\":\"b\"}\n"
	    "{\"username\":\"alice\",\"secret\":\"new\",\"time\":100,"
	    "\"origin\":\"a\"}\n";

	write_file(f->path, j, strlen(j));
	r = open_reg(f);
	expect_user(r, "alice", "new");
	registry_free(r);
}

static void
registry_open__torn_last_line__ignored_and_truncated(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r = open_reg(f);
	char		*data;
	size_t		 good, len;
	FILE		*fp;

	registry_put(r, "alice", hs("s1"), 100, "srvA");
	registry_put(r, "bob", hs("s2"), 200, "srvB");
	registry_free(r);
	good = (size_t)file_size(f->path);

	/* A crash in the middle of the third entry. */
	fp = fopen(f->path, "a");
	assert_non_null(fp);
	fputs("{\"username\":\"carol\",\"secret\":\"s3\",\"ti", fp);
	fclose(fp);
	assert_true((size_t)file_size(f->path) > good);

	r = open_reg(f);
	assert_int_equal(registry_count(r), 2);
	expect_user(r, "alice", "s1");
	expect_user(r, "bob", "s2");
	assert_null(registry_find(r, "carol"));
	assert_int_equal((size_t)file_size(f->path), good);

	/* Appending after the cut yields a clean journal. */
	assert_int_equal(registry_put(r, "dave", hs("s4"), 400, "srvD"),
	    REG_ADDED);
	registry_free(r);
	data = read_file(f->path, &len);
	assert_null(strstr(data, "carol"));
	assert_int_equal(data[len - 1], '\n');
	free(data);
	r = open_reg(f);
	assert_int_equal(registry_count(r), 3);
	expect_user(r, "dave", "s4");
	registry_free(r);
}

static void
registry_open__torn_complete_object_without_newline__ignored(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;
	char		 good[512], buf[1024];
	const char	*torn = "{\"username\":\"bob\",\"secret\":\"s2\","
			    "\"time\":2,\"origin\":\"a\"}";

	/* Hashed already: no migration rewrites the file. */
	snprintf(good, sizeof good, "{\"username\":\"alice\",\"secret\":"
	    "\"%s\",\"time\":1,\"origin\":\"a\"}\n", hs("s1"));
	snprintf(buf, sizeof buf, "%s%s", good, torn);
	write_file(f->path, buf, strlen(buf));
	r = open_reg(f);
	assert_int_equal(registry_count(r), 1);
	assert_null(registry_find(r, "bob"));
	assert_int_equal((size_t)file_size(f->path), strlen(good));
	registry_free(r);
}

static void
registry_open__only_a_torn_line__empty(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;

	write_file(f->path, "{\"usern", 7);
	r = open_reg(f);
	assert_int_equal(registry_count(r), 0);
	assert_int_equal(file_size(f->path), 0);
	registry_free(r);
}

static void
registry_open__corrupt_middle_line__skipped_rest_kept(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;
	char		 j[2048];
	size_t		 len;

	/* Hashed already: no migration rewrites the file. */
	snprintf(j, sizeof j,
	    "{\"username\":\"alice\",\"secret\":\"%s\",\"time\":1,"
	    "\"origin\":\"a\"}\n"
	    "{\"username\":\"bob\",\"sec\x01ret\n"
	    "garbage that is not json\n"
	    "{\"username\":\"nosecret\",\"time\":3}\n"
	    "{\"username\":5,\"secret\":\"s\",\"time\":3}\n"
	    "[\"username\",\"secret\"]\n"
	    "\n"
	    "{\"username\":\"carol\",\"secret\":\"%s\",\"time\":3,"
	    "\"origin\":\"c\"}\n", hs("s1"), hs("s3"));
	len = strlen(j);

	write_file(f->path, j, len);
	r = open_reg(f);
	assert_int_equal(registry_count(r), 2);
	expect_user(r, "alice", "s1");
	expect_user(r, "carol", "s3");
	assert_null(registry_find(r, "bob"));
	assert_null(registry_find(r, "nosecret"));
	/* Complete lines are never cut, even unreadable ones. */
	assert_int_equal((size_t)file_size(f->path), len);
	registry_free(r);
}

static void
registry_open__longest_allowed_name__replayed(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r = open_reg(f);
	char		 name[257], secret[257];

	/* msg.c accepts names and secrets of up to 256 bytes. */
	memset(name, 'n', 256);
	name[256] = '\0';
	memset(secret, 's', 256);
	secret[256] = '\0';
	assert_int_equal(registry_put(r, name, secret, 1, "a"), REG_ADDED);
	registry_free(r);
	r = open_reg(f);
	expect_user(r, name, secret);
	registry_free(r);
}

/*
 * The disk-full seam: the journal's write(2) takes at most `room` more
 * bytes, then fails with ENOSPC (a write that fails part-way);
 * fdatasync(2) fails while `sync_fails` is set.
 */
static size_t	 io_room;
static int	 io_sync_fails;

static ssize_t
full_write(int fd, const void *buf, size_t len)
{
	ssize_t	 n;

	if (io_room == 0) {
		errno = ENOSPC;
		return -1;
	}
	if (len > io_room)
		len = io_room;
	if ((n = write(fd, buf, len)) > 0)
		io_room -= (size_t)n;
	return n;
}

static int
failing_sync(int fd)
{
	if (io_sync_fails) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

/* Every line of the journal is a whole entry (none is skipped). */
static size_t
journal_lines(const char *path)
{
	size_t	 len, n = 0, i;
	char	*data = read_file(path, &len);

	for (i = 0; i < len; i++)
		if (data[i] == '\n')
			n++;
	if (len > 0 && data[len - 1] != '\n')
		fail_msg("the journal ends with a fragment: %s", data);
	free(data);
	return n;
}

static void
registry_put__journal_write_fails__error_and_not_kept(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;

	r = open_reg(f);
	io_room = 0;
	registry_set_io(r, full_write, NULL);
	assert_int_equal(registry_put(r, "alice", "s1", 100, "srvA"),
	    REG_ERROR);
	/* A registration that is not durable must not be half-made:
	 * the caller tells the client it failed. */
	assert_null(registry_find(r, "alice"));
	assert_int_equal(registry_count(r), 0);
	registry_free(r);
}

/*
 * The disk fills in the middle of a line: the fragment is cut off
 * before registry_put returns, and the next registration (once there is
 * room) is a whole line of its own that survives a restart, instead of
 * being glued to the fragment and skipped at the next start.
 */
static void
registry_put__disk_full_mid_line__rolled_back_next_write_clean(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;
	off_t		 before;

	r = open_reg(f);
	assert_int_equal(registry_put(r, "amy", "s0", 100, "srvA"), REG_ADDED);
	before = file_size(f->path);
	io_room = 10;
	registry_set_io(r, full_write, NULL);
	assert_int_equal(registry_put(r, "bob", "s1", 100, "srvA"),
	    REG_ERROR);
	assert_int_equal(file_size(f->path), before);
	assert_null(registry_find(r, "bob"));
	io_room = 1 << 20;
	assert_int_equal(registry_put(r, "cat", "s2", 100, "srvA"), REG_ADDED);
	registry_free(r);

	assert_int_equal(journal_lines(f->path), 2);
	r = open_reg(f);
	expect_user(r, "amy", "s0");
	expect_user(r, "cat", "s2");
	assert_null(registry_find(r, "bob"));
	assert_int_equal(registry_count(r), 2);
	registry_free(r);
}

/* The write went through but fdatasync failed: rolled back the same. */
static void
registry_put__fdatasync_fails__rolled_back(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;

	r = open_reg(f);
	io_sync_fails = 1;
	registry_set_io(r, NULL, failing_sync);
	assert_int_equal(registry_put(r, "dan", "s1", 100, "srvA"),
	    REG_ERROR);
	assert_int_equal(file_size(f->path), 0);
	io_sync_fails = 0;
	assert_int_equal(registry_put(r, "eve", "s2", 100, "srvA"), REG_ADDED);
	registry_free(r);
	assert_int_equal(journal_lines(f->path), 1);
}

/*
 * A user the cluster acknowledged elsewhere is not forgotten when our
 * journal is full: it is kept, and written once the disk has room.
 */
static void
registry_learn__journal_full__kept_and_retried_until_written(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;

	r = open_reg(f);
	io_room = 5;
	registry_set_io(r, full_write, NULL);
	assert_int_equal(registry_learn(r, "fay", "s1", 100, "srvB"),
	    REG_ADDED);
	expect_user(r, "fay", "s1");
	assert_int_equal(registry_unsynced(r), 1);
	assert_int_equal(file_size(f->path), 0);
	/* Still full: still waiting, nothing glued. */
	registry_retry(r, 10000);
	assert_int_equal(registry_unsynced(r), 1);
	assert_int_equal(file_size(f->path), 0);
	io_room = 1 << 20;
	registry_retry(r, 20000);
	assert_int_equal(registry_unsynced(r), 0);
	registry_free(r);

	r = open_reg(f);
	expect_user(r, "fay", "s1");
	registry_free(r);
}

static int	 io_syncs;

static int
counting_sync(int fd)
{
	io_syncs++;
	return fdatasync(fd);
}

/*
 * Users learned in one message (a join streams hundreds per line) are
 * journalled together with one fdatasync, not one each; if the journal
 * is full they are kept, and written by a retry.
 */
static void
registry_learn__batch__one_fdatasync_then_retry_on_full(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;
	char		 name[16];
	int		 i;

	r = open_reg(f);
	io_syncs = 0;
	io_room = 1 << 20;
	registry_set_io(r, full_write, counting_sync);
	registry_batch_begin(r);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof name, "b%03d", i);
		assert_int_equal(registry_learn(r, name, "s", 100 + i, "srvB"),
		    REG_ADDED);
	}
	assert_int_equal(file_size(f->path), 0);
	registry_batch_end(r);
	assert_int_equal(io_syncs, 1);
	assert_int_equal(journal_lines(f->path), 300);
	assert_int_equal(registry_unsynced(r), 0);

	/* A full disk: the batch is kept, cut back, and retried. */
	io_room = 30;
	registry_batch_begin(r);
	assert_int_equal(registry_learn(r, "c1", "s", 1, "srvB"), REG_ADDED);
	assert_int_equal(registry_learn(r, "c2", "s", 2, "srvB"), REG_ADDED);
	registry_batch_end(r);
	expect_user(r, "c1", "s");
	assert_int_equal(registry_unsynced(r), 2);
	assert_int_equal(journal_lines(f->path), 300);
	io_room = 1 << 20;
	registry_retry(r, 100000);
	assert_int_equal(registry_unsynced(r), 0);
	registry_free(r);

	assert_int_equal(journal_lines(f->path), 302);
	r = open_reg(f);
	assert_int_equal(registry_count(r), 302);
	registry_free(r);
}

/* A journal or directory others can read is refused, with the fix. */
static void
registry_open__readable_by_others__refused_with_fix(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r;
	char		 err[512] = "";

	write_file(f->path, "", 0);
	assert_int_equal(chmod(f->path, 0644), 0);
	r = registry_new();
	assert_int_equal(registry_open(r, f->dir, err, sizeof err), -1);
	if (strstr(err, "chmod 600") == NULL)
		fail_msg("no fix in '%s'", err);
	registry_free(r);

	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	r = registry_new();
	assert_int_equal(registry_open(r, f->dir, err, sizeof err), -1);
	if (strstr(err, "chmod 700") == NULL)
		fail_msg("no fix in '%s'", err);
	registry_free(r);

	assert_int_equal(chmod(f->dir, 0700), 0);
	r = open_reg(f);
	registry_free(r);
}

static void
registry_open__path_is_a_file__error(void **state)
{
	struct fixture	*f = *state;
	struct registry	*r = registry_new();
	char		 err[256] = "";

	write_file(f->path, "", 0);
	snprintf(err, sizeof err, "%s", f->path);
	/* Use the journal file itself as the "directory". */
	assert_int_equal(registry_open(r, f->path, err, sizeof err), -1);
	assert_true(strlen(err) > 0);
	registry_free(r);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(registry_put__new_user__added_and_found),
		T(registry_put__same_secret_again__unchanged),
		T(registry_put__thousands_of_users__all_found),
		T(registry_wins__earlier_time__wins),
		T(registry_wins__equal_time__lower_origin_wins),
		T(registry_wins__equal_time_and_origin__lower_secret_wins),
		T(registry_wins__either_order__same_winner),
		T(registry_put__loser_then_winner__replaced_else_kept),
		T(registry_open__fresh_dir__empty_journal_created),
		T(registry_put__durable__on_disk_before_return),
		T(registry_open__journal__replayed),
		T(registry_open__replay__not_journalled_again),
		T(registry_open__plaintext_journal__migrated_to_hashes),
		T(registry_open__later_entries__override),
		T(registry_open__handwritten_later_line__overrides),
		T(registry_open__torn_last_line__ignored_and_truncated),
		T(registry_open__torn_complete_object_without_newline__ignored),
		T(registry_open__only_a_torn_line__empty),
		T(registry_open__corrupt_middle_line__skipped_rest_kept),
		T(registry_open__longest_allowed_name__replayed),
		T(registry_put__journal_write_fails__error_and_not_kept),
		T(registry_put__disk_full_mid_line__rolled_back_next_write_clean),
		T(registry_put__fdatasync_fails__rolled_back),
		T(registry_learn__journal_full__kept_and_retried_until_written),
		T(registry_open__readable_by_others__refused_with_fix),
		T(registry_learn__batch__one_fdatasync_then_retry_on_full),
		T(registry_open__path_is_a_file__error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
