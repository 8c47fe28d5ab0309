// The example's browser page: a Convex client for the app's deployment, and the page inside it.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ConvexProvider, ConvexReactClient } from "convex/react";
import { App } from "./App.js";

/** The deployment's URL, set by build.mjs from CONVEX_URL (`npx convex dev` prints it). */
declare const CONVEX_URL: string;

const convex = new ConvexReactClient(CONVEX_URL);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <ConvexProvider client={convex}>
      <App />
    </ConvexProvider>
  </StrictMode>,
);
