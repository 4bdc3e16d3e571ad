// The login form: POST /api/v1/auth/login sets the session cookie (HttpOnly) and the CSRF
// cookie the dashboard's script sends back on state changes; then the dashboard opens.
"use strict";
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const body = {
    username: document.getElementById("username").value,
    password: document.getElementById("password").value,
  };
  const response = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  });
  if (response.ok) {
    window.location.assign("/dashboard/");
  } else if (response.status === 429) {
    error.textContent = "Too many login attempts: wait a minute.";
  } else {
    error.textContent = "Wrong username or password.";
  }
});
