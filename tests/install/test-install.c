/* test-install.c: what `cmake --install` delivers, used as another project would use it.
 * main() installs the build tree once into a temporary prefix; the tests check the files,
 * the programs' --version, that every public header compiles on its own, that each shared
 * library exports exactly the functions its headers mark (HUB_API, HUB_CLIENT_API) and
 * nothing private, that embed-client.c, compiled outside the tree with
 * `pkg-config --cflags --libs libhub`, runs on the installed shared libraries against the
 * installed hub-server, that embed-core.c, with `pkg-config … libhub-core`, needs
 * nothing but the core; and the deployment kit: `man hub-server` (and the other two pages)
 * reads the installed pages, the systemd unit passes `systemd-analyze verify` and names
 * the installed program and key file, which hub-server starts with. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <glib/gstdio.h>
#include <hub/hub-version.h>
#include <string.h>

/* From tests/CMakeLists.txt: HUB_TEST_BUILD_DIR, HUB_TEST_CMAKE, HUB_TEST_CC,
 * HUB_TEST_PKG_CONFIG, HUB_TEST_EMBED_SOURCE, HUB_TEST_EMBED_CORE_SOURCE,
 * HUB_TEST_HEADERS_DIR (the source tree's
 * public headers), HUB_TEST_LIBDIR (relative to the prefix) and HUB_TEST_SANITIZE_FLAGS
 * (the build's -fsanitize flags: a program linking an instrumented libhub needs them). */

static char *root;         /* temporary directory: prefix/ and work/ (owned) */
static char *prefix;       /* the install prefix (owned) */
static char *work;         /* where the outside program is built (owned) */
static char *install_log;  /* what `cmake --install` printed (owned) */
static gboolean installed; /* `cmake --install` exited 0 */

/* The installed parts: library file name, pkg-config module, the macro its headers mark
 * its functions with (hub/hub-api.h). */
typedef struct {
  const char *lib;
  const char *pc;
  const char *api_macro;
} Part;

static const Part parts[] = {
    {"hub-core", "libhub-core", "HUB_API"},
    {"hub-client", "libhub-client", "HUB_CLIENT_API"},
};

/* Never in a program that links only the core: the client's libraries. (Once the Redis store
 * is a part of its own, libhiredis belongs here too.) */
static const char *const not_in_the_core[] = {"libhub-client", "libwebsockets", "libuv",
                                              "libhiredis"};

/* Runs @argv (NULL-terminated) with the environment plus @env_extra ("NAME=value",
 * NULL-terminated, may be NULL) in @cwd (NULL: here). Returns its exit status (-1 when it
 * could not start) and in @output what it printed, stdout then stderr. */
static int
run (const char *const *argv, const char *const *env_extra, const char *cwd, char **output)
{
  g_auto (GStrv) envp = g_get_environ ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) status_error = NULL;
  int wait_status = 0;

  for (guint i = 0; env_extra != NULL && env_extra[i] != NULL; i++) {
    g_auto (GStrv) kv = g_strsplit (env_extra[i], "=", 2);

    envp = g_environ_setenv (envp, kv[0], kv[1], TRUE);
  }
  if (!g_spawn_sync (cwd, (char **)argv, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                     &wait_status, &error)) {
    *output = g_strdup_printf ("cannot run %s: %s", argv[0], error->message);
    return -1;
  }
  *output = g_strconcat (out, err, NULL);
  /* The exit code, or 128 when a signal ended it (GLib decodes the status portably). */
  if (g_spawn_check_exit_status (wait_status, &status_error))
    return 0;
  return g_error_matches (status_error, G_SPAWN_EXIT_ERROR, status_error->code) ? status_error->code
                                                                                : 128;
}

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK)) {
    g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
    const char *name;

    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree char *child = g_build_filename (path, name, NULL);

      remove_tree (child);
    }
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

static void
require_install (void)
{
  ck_assert_msg (installed, "cmake --install %s --prefix %s should succeed:\n%s",
                 HUB_TEST_BUILD_DIR, prefix, install_log);
}

/* `pkg-config ARGS MODULE` against the installed prefix, split into words. (transfer full) */
static GStrv
pkg_config (const char *module, const char *args)
{
  g_autofree char *pc_path = g_build_filename (prefix, HUB_TEST_LIBDIR, "pkgconfig", NULL);
  g_autofree char *env = g_strconcat ("PKG_CONFIG_PATH=", pc_path, NULL);
  g_autofree char *command = g_strdup_printf ("%s %s %s", HUB_TEST_PKG_CONFIG, args, module);
  g_auto (GStrv) argv = NULL;
  g_autofree char *output = NULL;
  GStrv words = NULL;
  int status;

  ck_assert (g_shell_parse_argv (command, NULL, &argv, NULL));
  status = run ((const char *const *)argv, (const char *const[]){env, NULL}, NULL, &output);
  ck_assert_msg (status == 0, "%s should exit 0 (PKG_CONFIG_PATH=%s), got %d: %s", command, pc_path,
                 status, output);
  if (!g_shell_parse_argv (output, NULL, &words, NULL))
    words = g_new0 (char *, 1); /* nothing printed */
  return words;
}

static void
assert_installed (const char *file)
{
  g_autofree char *path = g_build_filename (prefix, file, NULL);

  ck_assert_msg (g_file_test (path, G_FILE_TEST_EXISTS), "%s should be installed", file);
}

START_TEST (installed_files)
{
  static const char *const files[] = {
      "bin/hub-server",
      "bin/hub-client",
      "bin/hub-loadgen",
      HUB_TEST_LIBDIR "/pkgconfig/libhub.pc",
      "include/hub/hub-version.h",
  };
  g_autoptr (GDir) dir = NULL;
  const char *name;

  require_install ();
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    assert_installed (files[i]);
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    g_autofree char *a = g_strdup_printf ("%s/lib%s.a", HUB_TEST_LIBDIR, parts[i].lib);
    g_autofree char *so = g_strdup_printf ("%s/lib%s.so", HUB_TEST_LIBDIR, parts[i].lib);
    g_autofree char *soname = g_strdup_printf ("lib%s.so.%d", parts[i].lib, HUB_VERSION_MAJOR);
    g_autofree char *real =
        g_strdup_printf ("%s/lib%s.so.%s", HUB_TEST_LIBDIR, parts[i].lib, HUB_VERSION);
    g_autofree char *pc = g_strdup_printf ("%s/pkgconfig/%s.pc", HUB_TEST_LIBDIR, parts[i].pc);
    g_autofree char *so_path = g_build_filename (prefix, so, NULL);
    g_autofree char *link = NULL;

    assert_installed (a);
    assert_installed (so);
    assert_installed (real);
    assert_installed (pc);
    /* libX.so -> libX.so.MAJOR (the SONAME) -> libX.so.VERSION */
    link = g_file_read_link (so_path, NULL);
    ck_assert_msg (g_strcmp0 (link, soname) == 0, "%s should link to %s, not %s", so, soname, link);
  }
  /* Every public header of the source tree, under include/hub/. */
  dir = g_dir_open (HUB_TEST_HEADERS_DIR, 0, NULL);
  ck_assert_ptr_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (prefix, "include", "hub", name, NULL);

    if (g_str_has_suffix (name, ".h"))
      ck_assert_msg (g_file_test (path, G_FILE_TEST_EXISTS), "include/hub/%s should be installed",
                     name);
  }
}
END_TEST

START_TEST (programs_print_their_version)
{
  static const char *const programs[] = {"hub-server", "hub-client", "hub-loadgen"};
  g_auto (GStrv) modversion = NULL;

  require_install ();
  for (guint i = 0; i < G_N_ELEMENTS (programs); i++) {
    g_autofree char *bin = g_build_filename (prefix, "bin", programs[i], NULL);
    g_autofree char *expected = g_strdup_printf ("%s %s\n", programs[i], HUB_VERSION);

    for (guint f = 0; f < 2; f++) {
      const char *flag = f == 0 ? "--version" : "-V";
      g_autofree char *output = NULL;
      int status = run ((const char *const[]){bin, flag, NULL}, NULL, NULL, &output);

      ck_assert_msg (status == 0 && strcmp (output, expected) == 0,
                     "%s %s should print \"%s\" and exit 0, got %d: \"%s\"", programs[i], flag,
                     expected, status, output);
    }
  }
  for (const char *const *pc =
           (const char *const[]){"libhub", "libhub-core", "libhub-client", NULL};
       *pc != NULL; pc++) {
    g_clear_pointer (&modversion, g_strfreev);
    modversion = pkg_config (*pc, "--modversion");
    ck_assert_msg (g_strv_length (modversion) == 1 && strcmp (modversion[0], HUB_VERSION) == 0,
                   "pkg-config --modversion %s should be %s", *pc, HUB_VERSION);
  }
}
END_TEST

/* man(1) finds the installed pages (MANPATH: the prefix is not a system one) and their
 * text is the program's --help: generated from it at build time. */
START_TEST (man_pages_are_installed_and_follow_help)
{
  static const char *const programs[] = {"hub-server", "hub-client", "hub-loadgen"};
  g_autofree char *manpath = g_build_filename (prefix, "share", "man", NULL);
  g_autofree char *env = g_strconcat ("MANPATH=", manpath, NULL);

  require_install ();
  for (guint i = 0; i < G_N_ELEMENTS (programs); i++) {
    g_autofree char *page = NULL;
    g_autofree char *help = NULL;
    g_autofree char *bin = g_build_filename (prefix, "bin", programs[i], NULL);
    int status = run ((const char *const[]){"man", "-P", "cat", programs[i], NULL},
                      (const char *const[]){env, "MANWIDTH=200", NULL}, NULL, &page);

    ck_assert_msg (status == 0, "man %s should find the installed page (MANPATH=%s), got %d: %s",
                   programs[i], manpath, status, page);
    ck_assert_msg (strstr (page, "--version") != NULL && strstr (page, HUB_VERSION) != NULL,
                   "the page of %s has its options and version:\n%s", programs[i], page);
    ck_assert_int_eq (run ((const char *const[]){bin, "--help", NULL}, NULL, NULL, &help), 0);
    /* Each option of --help is in the page. */
    {
      g_auto (GStrv) lines = g_strsplit (help, "\n", -1);

      for (guint l = 0; lines[l] != NULL; l++) {
        const char *opt = strstr (lines[l], "--");
        g_autofree char *name = NULL;

        if (opt == NULL || g_ascii_isspace (lines[l][0]) == FALSE)
          continue;
        name = g_strndup (opt, strcspn (opt, "= "));
        ck_assert_msg (strstr (page, name) != NULL, "man %s lacks %s of its --help", programs[i],
                       name);
      }
    }
  }
  {
    g_autofree char *page = NULL;

    run ((const char *const[]){"man", "-P", "cat", "hub-server", NULL},
         (const char *const[]){env, "MANWIDTH=200", NULL}, NULL, &page);
    ck_assert_msg (strstr (page, "HUB_PORT") != NULL && strstr (page, "SIGHUP") != NULL &&
                       strstr (page, "hub_errors_total") != NULL,
                   "man hub-server documents the environment, signals and metrics:\n%s", page);
  }
}
END_TEST

/* The unit as systemd would load it: systemd-analyze verify (its ExecStart must exist,
 * its man page must be found, every directive must parse), and hub-server starts with
 * what the unit runs (the installed example key file; another port, for the test). */
START_TEST (systemd_unit_verifies_and_its_command_starts)
{
  g_autofree char *unit =
      g_build_filename (prefix, "lib", "systemd", "system", "hub-server.service", NULL);
  g_autofree char *conf = g_build_filename (prefix, "etc", "hub", "hub.conf", NULL);
  g_autofree char *bin = g_build_filename (prefix, "bin", "hub-server", NULL);
  g_autofree char *manpath = g_build_filename (prefix, "share", "man", NULL);
  g_autofree char *env = g_strconcat ("MANPATH=", manpath, NULL);
  g_autofree char *text = NULL;
  g_autofree char *exec = NULL;
  g_autofree char *output = NULL;
  g_autofree char *analyze = g_find_program_in_path ("systemd-analyze");
  int status;

  require_install ();
  ck_assert_msg (g_file_get_contents (unit, &text, NULL, NULL), "%s should be installed", unit);
  exec = g_strdup_printf ("ExecStart=%s --config %s\n", bin, conf);
  ck_assert_msg (strstr (text, exec) != NULL, "the unit runs the installed program: %s", exec);
  for (const char *const *d =
           (const char *const[]){"Type=notify", "DynamicUser=yes", "NoNewPrivileges=yes",
                                 "ProtectSystem=strict", "LimitNOFILE=", "WatchdogSec=", NULL};
       *d != NULL; d++)
    ck_assert_msg (strstr (text, *d) != NULL, "the unit says %s", *d);
  ck_assert_msg (g_file_test (conf, G_FILE_TEST_IS_REGULAR), "the example key file is installed");
  /* scripts/install-deps.sh installs systemd (for this tool) on Debian. */
  ck_assert_msg (analyze != NULL, "systemd-analyze is needed (scripts/install-deps.sh)");
  status = run ((const char *const[]){analyze, "verify", unit, NULL},
                (const char *const[]){env, NULL}, NULL, &output);
  ck_assert_msg (status == 0 && strstr (output, "hub-server") == NULL,
                 "systemd-analyze verify %s should be clean, got %d:\n%s", unit, status, output);
  {
    /* The unit's command line, on a free port, as systemd would start it. */
    const char *const args[] = {"--config", conf, "--port", "0", NULL};
    g_autoptr (GError) error = NULL;
    g_autoptr (HubTestServer) server = NULL;

    g_setenv ("HUB_SERVER_BIN", bin, TRUE);
    server = hub_test_server_startv_bare (args, &error);
    ck_assert_msg (server != NULL, "the unit's command starts: %s", error ? error->message : "");
  }
}
END_TEST

/* Each installed header compiles alone (included twice) in strict C11, with only
 * pkg-config's flags: no private header, no macro that only the build defines. One
 * compiler run, one translation unit per header. */
START_TEST (headers_are_self_contained)
{
  g_autofree char *include_dir = NULL;
  g_autoptr (GDir) dir = NULL;
  g_auto (GStrv) cflags = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *output = NULL;
  const char *name;
  guint n = 0;
  int status;

  require_install ();
  cflags = pkg_config ("libhub", "--cflags");
  for (const char *const *a = (const char *const[]){HUB_TEST_CC, "-std=c11", "-Wall", "-Wextra",
                                                    "-Werror", "-fsyntax-only", NULL};
       *a != NULL; a++)
    g_ptr_array_add (argv, g_strdup (*a));
  for (guint i = 0; cflags[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (cflags[i]));
  include_dir = g_build_filename (prefix, "include", "hub", NULL);
  dir = g_dir_open (include_dir, 0, NULL);
  ck_assert_ptr_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (include_dir, name, NULL);
    g_autofree char *text = NULL;
    g_autofree char *src = g_strdup_printf ("%s/header-%s.c", work, name);
    g_autofree char *code = g_strdup_printf (
        "#include <hub/%s>\n#include <hub/%s>\nint main (void) { return 0; }\n", name, name);

    ck_assert (g_file_get_contents (path, &text, NULL, NULL));
    ck_assert_msg (strstr (text, "-private.h") == NULL && strstr (text, "HUB_HAVE_") == NULL,
                   "include/hub/%s should use no private header and no build option", name);
    ck_assert (g_file_set_contents (src, code, -1, NULL));
    g_ptr_array_add (argv, g_steal_pointer (&src));
    n++;
  }
  ck_assert_msg (n > 10, "the public headers should be installed (found %u)", n);
  g_ptr_array_add (argv, NULL);
  status = run ((const char *const *)argv->pdata, NULL, work, &output);
  ck_assert_msg (status == 0, "every include/hub/*.h should compile on its own:\n%s", output);
}
END_TEST

START_TEST (outside_program_embeds_the_shared_library)
{
  g_autofree char *libdir = g_build_filename (prefix, HUB_TEST_LIBDIR, NULL);
  g_autofree char *ld_path = g_strconcat ("LD_LIBRARY_PATH=", libdir, NULL);
  g_autofree char *src = g_build_filename (work, "embed-client.c", NULL);
  g_autofree char *exe = g_build_filename (work, "embed-client", NULL);
  g_autofree char *text = NULL;
  g_autofree char *server_bin = NULL;
  g_autofree char *url = NULL;
  g_autofree char *output = NULL;
  g_autofree char *ldd = NULL;
  g_autofree char *expected_lib = NULL;
  g_autofree char *expected_welcome = NULL;
  g_auto (GStrv) flags = NULL;
  g_auto (GStrv) sanitize = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (HubTestServer) server = NULL;
  g_autoptr (HubTestHttpResponse) response = NULL;
  g_autoptr (JsonObject) stats = NULL;
  int status;

  require_install ();
  /* Built in a directory of its own, from a copy: nothing of the source tree is in reach. */
  ck_assert (g_file_get_contents (HUB_TEST_EMBED_SOURCE, &text, NULL, NULL));
  ck_assert (g_file_set_contents (src, text, -1, NULL));
  flags = pkg_config ("libhub", "--cflags --libs");
  ck_assert (g_shell_parse_argv ("x " HUB_TEST_SANITIZE_FLAGS, NULL, &sanitize, NULL));
  for (const char *const *a = (const char *const[]){HUB_TEST_CC, "-std=c11", "-Wall", "-Wextra",
                                                    "-Wno-unused-parameter", "-Werror", NULL};
       *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer)*a);
  for (guint i = 1; sanitize[i] != NULL; i++)
    g_ptr_array_add (argv, sanitize[i]);
  g_ptr_array_add (argv, "embed-client.c");
  g_ptr_array_add (argv, "-o");
  g_ptr_array_add (argv, "embed-client");
  for (guint i = 0; flags[i] != NULL; i++)
    g_ptr_array_add (argv, flags[i]);
  g_ptr_array_add (argv, NULL);
  status = run ((const char *const *)argv->pdata, NULL, work, &output);
  ck_assert_msg (status == 0, "embed-client.c should build with pkg-config's flags:\n%s", output);
  g_clear_pointer (&output, g_free);

  /* It needs libhub-client.so.MAJOR and libhub-core.so.MAJOR, found in the installed lib
   * directory. */
  status = run ((const char *const[]){"ldd", exe, NULL}, (const char *const[]){ld_path, NULL}, NULL,
                &ldd);
  ck_assert_msg (status == 0, "ldd embed-client should exit 0:\n%s", ldd);
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    g_clear_pointer (&expected_lib, g_free);
    expected_lib = g_strdup_printf ("lib%s.so.%d => %s/lib%s.so.%d", parts[i].lib,
                                    HUB_VERSION_MAJOR, libdir, parts[i].lib, HUB_VERSION_MAJOR);
    ck_assert_msg (strstr (ldd, expected_lib) != NULL,
                   "embed-client should load the installed shared library (%s):\n%s", expected_lib,
                   ldd);
  }

  /* Against the installed server. */
  server_bin = g_build_filename (prefix, "bin", "hub-server", NULL);
  g_setenv ("HUB_SERVER_BIN", server_bin, TRUE);
  server = hub_test_server_start (NULL);
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  status = run ((const char *const[]){exe, url, NULL}, (const char *const[]){ld_path, NULL}, NULL,
                &output);
  expected_welcome = g_strdup_printf ("welcome: user embedded, libhub %s\n", HUB_VERSION);
  ck_assert_msg (status == 0, "embed-client should exit 0, got %d:\n%s", status, output);
  ck_assert_msg (strstr (output, expected_welcome) != NULL && strstr (output, "join: ok\n"),
                 "embed-client should print \"%s\" and \"join: ok\", got:\n%s", expected_welcome,
                 output);

  /* The server saw it: hello and join (2 frames), and the room now exists. */
  response = hub_test_http_get (hub_test_server_port (server), "/api/stats");
  stats = hub_test_http_response_json (response);
  ck_assert_int_eq (hub_test_json_int (stats, "frames_in_total"), 2);
  ck_assert_int_eq (hub_test_json_int (stats, "rooms"), 1);
}
END_TEST

/* The functions the installed headers mark with @macro ("HUB_API" on the line before the
 * declaration, hub/hub-api.h): a set of names. (transfer full) */
static GHashTable *
declared_api (const char *macro)
{
  g_autofree char *include_dir = g_build_filename (prefix, "include", "hub", NULL);
  g_autofree char *pattern = g_strdup_printf ("^%s\\n[^(;{}]*\\b([a-z_][a-z0-9_]*)\\s*\\(", macro);
  g_autoptr (GRegex) regex = g_regex_new (pattern, G_REGEX_MULTILINE, 0, NULL);
  g_autoptr (GDir) dir = g_dir_open (include_dir, 0, NULL);
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *name;

  ck_assert_ptr_nonnull (regex);
  ck_assert_ptr_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (include_dir, name, NULL);
    g_autofree char *text = NULL;
    g_autoptr (GMatchInfo) match = NULL;

    ck_assert (g_file_get_contents (path, &text, NULL, NULL));
    g_regex_match (regex, text, 0, &match);
    for (; g_match_info_matches (match); g_match_info_next (match, NULL))
      g_hash_table_add (names, g_match_info_fetch (match, 1));
  }
  return names;
}

/* Each installed shared library exports exactly the functions its headers mark: nothing
 * private (-fvisibility=hidden), nothing marked but missing. Names starting with '_' are the
 * toolchain's (sanitizer runtimes, linker symbols), not ours. */
START_TEST (exported_symbols_are_the_api)
{
  require_install ();
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++) {
    g_autofree char *so = g_strdup_printf ("%s/%s/lib%s.so", prefix, HUB_TEST_LIBDIR, parts[i].lib);
    g_autoptr (GHashTable) api = declared_api (parts[i].api_macro);
    g_autoptr (GHashTable) exported = g_hash_table_new (g_str_hash, g_str_equal);
    g_autoptr (GString) private = g_string_new (NULL);
    g_autoptr (GString) missing = g_string_new (NULL);
    g_autofree char *output = NULL;
    g_auto (GStrv) lines = NULL;
    GHashTableIter iter;
    gpointer key;
    int status;

    ck_assert_msg (g_hash_table_size (api) > 10, "%s should mark the functions of lib%s.so",
                   parts[i].api_macro, parts[i].lib);
    status =
        run ((const char *const[]){"nm", "-D", "--defined-only", so, NULL}, NULL, NULL, &output);
    ck_assert_msg (status == 0, "nm -D --defined-only %s should exit 0:\n%s", so, output);
    lines = g_strsplit (output, "\n", -1);
    for (guint l = 0; lines[l] != NULL; l++) {
      g_auto (GStrv) words = g_strsplit_set (g_strstrip (lines[l]), " \t", -1);
      guint n = g_strv_length (words);
      const char *symbol = n > 0 ? words[n - 1] : "";

      if (n < 2 || symbol[0] == '_' || symbol[0] == '\0')
        continue;
      g_hash_table_add (exported, (gpointer)g_intern_string (symbol));
      if (!g_hash_table_contains (api, symbol))
        g_string_append_printf (private, " %s", symbol);
    }
    g_hash_table_iter_init (&iter, api);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      if (!g_hash_table_contains (exported, key))
        g_string_append_printf (missing, " %s", (const char *)key);
    ck_assert_msg (private->len == 0, "lib%s.so should export no private symbol, but exports:%s",
                   parts[i].lib, private->str);
    ck_assert_msg (missing->len == 0,
                   "lib%s.so should export every function its headers mark %s, but lacks:%s",
                   parts[i].lib, parts[i].api_macro, missing->str);
  }
}
END_TEST

/* A program that wants only the protocol builds with libhub-core's flags alone and loads
 * neither the client nor what the client needs. */
START_TEST (core_program_needs_only_the_core)
{
  g_autofree char *libdir = g_build_filename (prefix, HUB_TEST_LIBDIR, NULL);
  g_autofree char *ld_path = g_strconcat ("LD_LIBRARY_PATH=", libdir, NULL);
  g_autofree char *src = g_build_filename (work, "embed-core.c", NULL);
  g_autofree char *exe = g_build_filename (work, "embed-core", NULL);
  g_autofree char *text = NULL;
  g_autofree char *output = NULL;
  g_autofree char *ldd = NULL;
  g_autofree char *expected_lib = NULL;
  g_autofree char *expected_line = NULL;
  g_auto (GStrv) flags = NULL;
  g_auto (GStrv) static_libs = NULL;
  g_auto (GStrv) sanitize = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  int status;

  require_install ();
  ck_assert (g_file_get_contents (HUB_TEST_EMBED_CORE_SOURCE, &text, NULL, NULL));
  ck_assert (g_file_set_contents (src, text, -1, NULL));
  flags = pkg_config ("libhub-core", "--cflags --libs");
  static_libs = pkg_config ("libhub-core", "--libs --static");
  for (guint i = 0; static_libs[i] != NULL; i++)
    for (guint j = 0; j < G_N_ELEMENTS (not_in_the_core); j++)
      ck_assert_msg (strstr (static_libs[i], not_in_the_core[j] + 3) == NULL,
                     "pkg-config --libs --static libhub-core should not need %s, says %s",
                     not_in_the_core[j], static_libs[i]);
  ck_assert (g_shell_parse_argv ("x " HUB_TEST_SANITIZE_FLAGS, NULL, &sanitize, NULL));
  for (const char *const *a =
           (const char *const[]){HUB_TEST_CC, "-std=c11", "-Wall", "-Wextra", "-Werror", NULL};
       *a != NULL; a++)
    g_ptr_array_add (argv, (gpointer)*a);
  for (guint i = 1; sanitize[i] != NULL; i++)
    g_ptr_array_add (argv, sanitize[i]);
  g_ptr_array_add (argv, "embed-core.c");
  g_ptr_array_add (argv, "-o");
  g_ptr_array_add (argv, "embed-core");
  for (guint i = 0; flags[i] != NULL; i++)
    g_ptr_array_add (argv, flags[i]);
  g_ptr_array_add (argv, NULL);
  status = run ((const char *const *)argv->pdata, NULL, work, &output);
  ck_assert_msg (status == 0, "embed-core.c should build with libhub-core's flags:\n%s", output);
  g_clear_pointer (&output, g_free);

  status = run ((const char *const[]){"ldd", exe, NULL}, (const char *const[]){ld_path, NULL}, NULL,
                &ldd);
  expected_lib = g_strdup_printf ("libhub-core.so.%d => %s/libhub-core.so.%d", HUB_VERSION_MAJOR,
                                  libdir, HUB_VERSION_MAJOR);
  ck_assert_msg (status == 0 && strstr (ldd, expected_lib) != NULL,
                 "embed-core should load the installed core (%s):\n%s", expected_lib, ldd);
  for (guint j = 0; j < G_N_ELEMENTS (not_in_the_core); j++)
    ck_assert_msg (strstr (ldd, not_in_the_core[j]) == NULL,
                   "a program of the core alone should not load %s:\n%s", not_in_the_core[j], ldd);

  status =
      run ((const char *const[]){exe, NULL}, (const char *const[]){ld_path, NULL}, NULL, &output);
  expected_line = g_strdup_printf (
      "libhub-core %s: {\"type\":\"error\",\"id\":1,\"code\":\"bad_request\"", HUB_VERSION);
  ck_assert_msg (status == 0 && g_str_has_prefix (output, expected_line),
                 "embed-core should exit 0 and print \"%s…\", got %d:\n%s", expected_line, status,
                 output);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("install");
  int failed;

  root = g_dir_make_tmp ("hub-install-XXXXXX", NULL);
  g_assert_nonnull (root);
  prefix = g_build_filename (root, "prefix", NULL);
  work = g_build_filename (root, "work", NULL);
  g_mkdir (work, 0700);
  installed = run ((const char *const[]){HUB_TEST_CMAKE, "--install", HUB_TEST_BUILD_DIR,
                                         "--prefix", prefix, NULL},
                   NULL, NULL, &install_log) == 0;

  HUB_TEST_ADD (suite, installed_files, 60);
  HUB_TEST_ADD (suite, programs_print_their_version, 60);
  HUB_TEST_ADD (suite, headers_are_self_contained, 120);
  HUB_TEST_ADD (suite, exported_symbols_are_the_api, 60);
  HUB_TEST_ADD (suite, outside_program_embeds_the_shared_library, 120);
  HUB_TEST_ADD (suite, man_pages_are_installed_and_follow_help, 60);
  HUB_TEST_ADD (suite, systemd_unit_verifies_and_its_command_starts, 60);
  HUB_TEST_ADD (suite, core_program_needs_only_the_core, 120);
  failed = hub_test_run (suite);

  remove_tree (root);
  g_free (root);
  g_free (prefix);
  g_free (work);
  g_free (install_log);
  return failed;
}
