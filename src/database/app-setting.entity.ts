import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Small instance-wide settings (e.g. the hash of a generated admin key). */
@Entity('app_settings')
export class AppSetting {
  @PrimaryColumn({ type: 'varchar', length: 100 })
  key!: string;

  @Column({ type: 'text' })
  value!: string;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
