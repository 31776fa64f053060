// GraphiQL against this server's /graphql, rendered from the files this server serves.
(function () {
  "use strict";
  var DEFAULT_QUERY = [
    "# Coalition's GraphQL API. Ctrl-Enter runs the query;",
    "# the book (top left) shows the schema.",
    "# Members send 'Authorization: Bearer <token>',",
    "# partners and the operator 'X-API-Key: <key>'",
    "# (in Headers, below). Anyone may read the program:",
    "",
    "{ tiers { key name threshold } }",
    "",
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({
    url: new URL("/graphql", window.location.href).href,
    headers: { accept: "application/graphql-response+json, application/json;q=0.9" },
  });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
    })
  );
})();
