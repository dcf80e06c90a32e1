// App is the route table: one page per route, deep-linkable as in Aura 0.4.
import { lazy, Suspense } from 'react';
import { BrowserRouter, Link, NavLink, Route, Routes } from 'react-router';
import { Loading } from './components/common';
import { ProjectsPage } from './pages/Projects';
import { ProjectPage } from './pages/Project';
import { KeyPage } from './pages/Key';
import { ValuePage } from './pages/Value';
import { QueuePage } from './pages/Queue';
import { RunnersPage } from './pages/Runners';
import { NewProjectPage } from './pages/NewProject';
import { NewRunnerPage } from './pages/NewRunner';
import { SignInPage } from './pages/SignIn';
import { UserMenu } from './components/UserMenu';
import JobPage from './pages/Job';
import { AuditPage } from './pages/Audit';

const AccountPage = lazy(() => import('./pages/Account'));
const UsersPage = lazy(() => import('./pages/Users'));
const InvitePage = lazy(() => import('./pages/Invite'));

function Header() {
  return (
    <header className="top">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Link to="/" className="brand">
        Aura
      </Link>
      <nav aria-label="Main">
        <NavLink to="/" end>
          Projects
        </NavLink>
        <NavLink to="/queue">Queue</NavLink>
        <NavLink to="/runners">Runners</NavLink>
      </nav>
      <span className="grow" />
      <UserMenu />
    </header>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <Header />
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route path="/" element={<ProjectsPage />} />
          <Route path="/p/:project" element={<ProjectPage />} />
          <Route path="/p/:project/:key" element={<KeyPage />} />
          <Route path="/p/:project/:key/:val" element={<ValuePage />} />
          <Route path="/j/:id" element={<JobPage />} />
          <Route path="/queue" element={<QueuePage />} />
          <Route path="/runners" element={<RunnersPage />} />
          <Route path="/new-project" element={<NewProjectPage />} />
          <Route path="/new-runner" element={<NewRunnerPage />} />
          <Route path="/sign-in" element={<SignInPage />} />
          <Route path="/audit" element={<AuditPage />} />
          <Route path="/signin" element={<SignInPage />} />
          <Route path="/invite/:token" element={<InvitePage />} />
          <Route path="/account" element={<AccountPage />} />
          <Route path="/users" element={<UsersPage />} />
          <Route
            path="*"
            element={
              <main id="main">
                <h1>Not found</h1>
                <p>
                  <Link to="/">Back to the projects</Link>
                </p>
              </main>
            }
          />
        </Routes>
      </Suspense>
    </BrowserRouter>
  );
}
