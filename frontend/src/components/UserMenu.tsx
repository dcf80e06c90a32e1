// UserMenu is the header's corner: "Sign in", or who is signed in (as GET
// /api/v1/me says) with the links the caller may use and Sign out.
import { useEffect, useRef } from 'react';
import { Link, NavLink, useLocation, useNavigate } from 'react-router';
import { kindText, signOut, useMe, userOf, type Me } from '../api/me';
import './users.css';

export function UserMenu() {
  const me = useMe();
  const navigate = useNavigate();
  return <UserMenuView me={me} onSignOut={() => void signOut().then(() => navigate('/'))} />;
}

// UserMenuView shows me's menu: only the links me may use.
export function UserMenuView({ me, onSignOut }: { me: Me | undefined; onSignOut: () => void }) {
  const menu = useRef<HTMLDetailsElement>(null);
  const { pathname } = useLocation();
  // A followed link closes the menu.
  useEffect(() => {
    if (menu.current) menu.current.open = false;
  }, [pathname]);
  if (!me || me.kind === 'anonymous') {
    return (
      <NavLink to="/signin" className="signin">
        Sign in
      </NavLink>
    );
  }
  const user = userOf(me);
  const p = me.permissions;
  return (
    <details className="user-menu" ref={menu}>
      {/* A token keeps the header's old words; a user is named. */}
      <summary className="signin">{user ? user.displayName || user.name : `Signed in (${kindText(me)})`}</summary>
      <nav className="menu" aria-label="Account">
        {user ? (
          <span className="who muted mono" data-testid="user-name">
            {user.name}
          </span>
        ) : null}
        {user ? <Link to="/account">Account</Link> : <Link to="/signin">Sign in as another</Link>}
        {p.manageUsers ? <Link to="/users">Users</Link> : null}
        {p.readAudit ? <Link to="/audit">Audit</Link> : null}
        <button
          type="button"
          onClick={() => {
            if (menu.current) menu.current.open = false;
            onSignOut();
          }}
        >
          Sign out
        </button>
      </nav>
    </details>
  );
}
