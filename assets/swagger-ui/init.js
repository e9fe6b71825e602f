// Swagger UI over this server's own document; kept out of index.html so the
// page runs under a Content-Security-Policy without inline script.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
});
