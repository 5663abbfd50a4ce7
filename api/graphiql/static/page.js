// Boots GraphiQL with the explorer plugin; the API key typed above it is kept in localStorage and
// sent with every request (a header set in GraphiQL's own headers editor wins over it).
(function () {
  "use strict";

  var STORAGE_KEY = "analytics-graph:api-key";
  var AUTH_HEADERS = ["authorization", "x-api-key"];
  var DEFAULT_QUERY = [
    "# Enter a secret key (sk_…) above, then run with Ctrl-Enter or the ▶ button.",
    "# The explorer and the docs read the schema without a key.",
    "{",
    "  tenant {",
    "    id",
    "    timezone",
    "  }",
    "}",
    "",
  ].join("\n");

  var input = document.getElementById("api-key");
  var forget = document.getElementById("api-key-forget");

  // localStorage throws when storage is disabled; the key then lasts for this page only.
  function storedKey() {
    try {
      return window.localStorage.getItem(STORAGE_KEY) || "";
    } catch (err) {
      return "";
    }
  }

  function remember(key) {
    try {
      if (key) {
        window.localStorage.setItem(STORAGE_KEY, key);
      } else {
        window.localStorage.removeItem(STORAGE_KEY);
      }
    } catch (err) {
      /* storage disabled */
    }
  }

  input.value = storedKey();
  input.addEventListener("input", function () {
    remember(input.value.trim());
  });
  forget.addEventListener("click", function () {
    input.value = "";
    remember("");
    input.focus();
  });
  document.getElementById("api-key-bar").addEventListener("submit", function (event) {
    event.preventDefault();
  });

  function setsAuth(headers) {
    return Object.keys(headers || {}).some(function (name) {
      return AUTH_HEADERS.indexOf(name.toLowerCase()) >= 0;
    });
  }

  var httpFetcher = GraphiQL.createFetcher({ url: window.location.pathname });

  function fetcher(params, options) {
    var editorHeaders = (options && options.headers) || {};
    var key = input.value.trim();
    var headers = Object.assign({}, editorHeaders);
    if (key && !setsAuth(editorHeaders)) {
      headers.Authorization = "Bearer " + key;
    }
    return httpFetcher(params, Object.assign({}, options, { headers: headers }));
  }

  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      visiblePlugin: explorer,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    })
  );
})();
