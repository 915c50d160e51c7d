"use client";
/** The sign-in form: posts the admin token (or password) and, once the session cookie is set, opens the console. */
import { useState, type FormEvent } from "react";

export function LoginForm({ acceptsPassword }: { acceptsPassword: boolean }) {
  const [credential, setCredential] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const label = acceptsPassword ? "Admin token or password" : "Admin token";

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (credential.trim() === "") {
      setError(`enter the ${label.toLowerCase()}`);
      return;
    }
    setPending(true);
    setError(null);
    try {
      const res = await fetch("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ credential }),
      });
      if (res.ok) {
        // a full load, so the console layout renders with the new cookie
        window.location.assign("/");
        return;
      }
      const body = (await res.json().catch(() => null)) as { error?: string } | null;
      setError(body?.error ?? `sign-in failed (HTTP ${res.status})`);
    } catch {
      setError("cannot reach the server; is it running?");
    }
    setPending(false);
  }

  return (
    <form onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor="credential">{label}</label>
        <input
          id="credential"
          name="credential"
          type="password"
          autoComplete="current-password"
          autoFocus
          required
          value={credential}
          onChange={(e) => setCredential(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "login-error credential-hint" : "credential-hint"}
        />
        <span id="credential-hint" className="field-hint">
          Printed on first start and stored in the data directory as <code>admin_token</code>, or <code>admin.token</code> in the config.
        </span>
      </div>
      {error ? <p id="login-error" className="alert alert-error" role="alert">{error}</p> : null}
      <button type="submit" disabled={pending}>{pending ? "Signing in…" : "Sign in"}</button>
    </form>
  );
}
