import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { LoginForm } from "@/components/login-form";
import { getHomeServer } from "@/server/engine";
import { hasAdminSession } from "@/server/api/session";

export const metadata: Metadata = { title: "Sign in" };

export default async function LoginPage() {
  if (await hasAdminSession()) redirect("/");
  const acceptsPassword = getHomeServer().config.admin.password !== undefined;
  return (
    <main className="login-page">
      <div className="card login-card">
        <div>
          <h1>Switchyard</h1>
          <p className="stat-detail">Sign in to the operator console.</p>
        </div>
        <LoginForm acceptsPassword={acceptsPassword} />
      </div>
    </main>
  );
}
