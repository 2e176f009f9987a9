"""post_reach, and the avatar foreign key on PostgreSQL

post_reach holds the inboxes a post reached, compressed, once retention prunes their delivery
rows. The foreign key of actors.avatar_id was declared by 0001 with use_alter inside
create_table, where Alembic never creates it on PostgreSQL (SQLite has it from CREATE TABLE).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('post_reach',
    sa.Column('post_id', sa.Integer(), nullable=False),
    sa.Column('inbox_count', sa.Integer(), nullable=False),
    sa.Column('inboxes', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['post_id'], ['posts.id'], name=op.f('fk_post_reach_post_id_posts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('post_id', name=op.f('pk_post_reach'))
    )
    if op.get_bind().dialect.name == 'postgresql':
        # An avatar row that is gone would refuse the key: such a link is dropped, not the upgrade.
        op.execute('UPDATE actors SET avatar_id = NULL WHERE avatar_id IS NOT NULL '
                   'AND avatar_id NOT IN (SELECT id FROM media)')
        op.create_foreign_key(op.f('fk_actors_avatar_id_media'), 'actors', 'media', ['avatar_id'], ['id'])


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('fk_actors_avatar_id_media'), 'actors', type_='foreignkey')
    op.drop_table('post_reach')
